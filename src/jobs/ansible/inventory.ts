/**
 * The inventory Hangar hands to `ansible-playbook`: a YAML inventory (read by Ansible's `yaml` inventory plugin)
 * rendered from a plain list of hosts. Names are checked so that each one means exactly itself to Ansible: a host
 * name is never a range (`web[1:3]`), a pattern (`web*`, `a,b`, `!a`) or a group's name.
 */
import { InvalidError } from '../../core/errors.js';
import { renderFlowYaml, Unsafe, type FlowValue, type JsonValue } from './yaml-flow.js';

export type { JsonValue } from './yaml-flow.js';

/** Variables by name; names are identifiers such as `ntp_servers`. */
export type VarMap = Readonly<Record<string, JsonValue>>;

export interface InventoryHost {
  /** The inventory name, also what `--limit` and per-host results use. */
  readonly name: string;
  /** Becomes `ansible_host`; leave it out for hosts reached another way (`ansible_connection: local`). */
  readonly address?: string;
  readonly vars?: VarMap;
  /** Group names; every host is also in Ansible's implicit `all`. */
  readonly groups?: readonly string[];
}

export interface InventorySpec {
  readonly hosts: readonly InventoryHost[];
  /** Variables of a group, or of `all`; a group named here need not have hosts. */
  readonly groupVars?: Readonly<Record<string, VarMap>>;
  /**
   * Off (the default), every string in a variable's value is tagged `!unsafe`, so text such as a machine's
   * reported hostname is passed on literally and `{{ ... }}` in it is never run on the controller. On, strings
   * are Jinja templates.
   */
  readonly allowTemplates?: boolean;
}

/** Letters, digits, `_`, `.` and `-`, not starting with `.` or `-`: a DNS name or a plain identifier. */
export const HOST_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$/;
/** What Ansible itself accepts as a group name without rewriting or warning. */
export const GROUP_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
/** Variable names Jinja can reference. */
export const VAR_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
const RESERVED_GROUPS: ReadonlySet<string> = new Set(['all', 'ungrouped']);

/** Throws InvalidError (with the field path) unless `name` is a host name Ansible reads as exactly that host. */
export function checkHostName(name: string, field: string): void {
  if (!HOST_NAME_PATTERN.test(name)) {
    throw new InvalidError(
      `${field}: '${name}' is not a usable Ansible host name (letters, digits, '_', '.', '-'; at most 253; not starting with '.' or '-')`,
      field,
    );
  }
}

/** Throws InvalidError, naming the field, unless every key of `vars` is a variable name and every number finite. */
export function checkVars(vars: VarMap, field: string): void {
  for (const [key, value] of Object.entries(vars)) {
    if (!VAR_NAME_PATTERN.test(key)) {
      throw new InvalidError(`${field}.${key}: variable names are identifiers (letters, digits, '_')`, `${field}.${key}`);
    }
    checkFinite(value, `${field}.${key}`);
  }
}

// JSON and YAML have no NaN or Infinity that Ansible would read as the number it was.
function checkFinite(value: JsonValue, field: string): void {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new InvalidError(`${field}: ${value} is not a finite number`, field);
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) value.forEach((item: JsonValue, index) => checkFinite(item, `${field}[${index}]`));
  else for (const [key, item] of Object.entries(value)) checkFinite(item as JsonValue, `${field}.${key}`);
}

/**
 * Renders the inventory as YAML for Ansible's `yaml` inventory plugin. Host order and group order follow the
 * input, so the same input gives the same text. Throws InvalidError, naming the field, for a bad or duplicate
 * name, a host named like a group, an `ansible_host` variable next to an address, or a number that is not finite.
 */
export function renderInventory(spec: InventorySpec): string {
  const hostEntries = new Map<string, FlowValue>();
  const members = new Map<string, Map<string, null>>();
  const seen = new Set<string>();

  spec.hosts.forEach((host, index) => {
    const at = `hosts[${index}]`;
    checkHostName(host.name, `${at}.name`);
    if (seen.has(host.name)) throw new InvalidError(`${at}.name: '${host.name}' is listed more than once`, `${at}.name`);
    seen.add(host.name);
    hostEntries.set(host.name, literally(hostVars(host, at), spec));
    (host.groups ?? []).forEach((group, groupIndex) => {
      checkGroupName(group, `${at}.groups[${groupIndex}]`);
      const groupHosts = members.get(group) ?? new Map<string, null>();
      groupHosts.set(host.name, null);
      members.set(group, groupHosts);
    });
  });

  const groupVars = spec.groupVars ?? {};
  for (const [group, vars] of Object.entries(groupVars)) {
    if (group !== 'all') checkGroupName(group, `groupVars.${group}`);
    checkVars(vars, `groupVars.${group}`);
    if (group !== 'all' && !members.has(group)) members.set(group, new Map<string, null>());
  }

  // A name that is a group's too would select the whole group in a pattern such as --limit.
  for (const group of [...RESERVED_GROUPS, ...members.keys()]) {
    if (seen.has(group)) {
      const index = spec.hosts.findIndex((host) => host.name === group);
      throw new InvalidError(`hosts[${index}].name: '${group}' is also a group's name`, `hosts[${index}].name`);
    }
  }

  const children = new Map<string, FlowValue>();
  for (const [group, groupHosts] of members) {
    const vars = Object.hasOwn(groupVars, group) ? groupVars[group] : undefined;
    children.set(group, vars === undefined ? { hosts: groupHosts } : { hosts: groupHosts, vars: literally(vars, spec) });
  }
  const all: Record<string, FlowValue> = { hosts: hostEntries, children };
  const allVars = Object.hasOwn(groupVars, 'all') ? groupVars['all'] : undefined;
  if (allVars !== undefined) all['vars'] = literally(allVars, spec);

  return renderFlowYaml({ all });
}

/** Marks each variable's value Unsafe unless templates are allowed; the names themselves are identifiers. */
function literally(vars: VarMap, spec: InventorySpec): Map<string, FlowValue> {
  return new Map(Object.entries(vars).map(([name, value]) => [name, spec.allowTemplates === true ? value : new Unsafe(value)]));
}

function hostVars(host: InventoryHost, at: string): Record<string, JsonValue> {
  const vars = host.vars ?? {};
  checkVars(vars, `${at}.vars`);
  if (host.address === undefined) return { ...vars };
  if (Object.hasOwn(vars, 'ansible_host')) {
    throw new InvalidError(`${at}.vars.ansible_host: give the address once, as 'address'`, `${at}.vars.ansible_host`);
  }
  if (!/^[^\s\p{Cc}]+$/u.test(host.address)) {
    throw new InvalidError(`${at}.address: '${host.address}' is empty or has spaces or control characters`, `${at}.address`);
  }
  return { ansible_host: host.address, ...vars };
}

function checkGroupName(group: string, field: string): void {
  if (!GROUP_NAME_PATTERN.test(group) || RESERVED_GROUPS.has(group)) {
    throw new InvalidError(
      `${field}: '${group}' is not a usable Ansible group name (a letter or '_', then letters, digits, '_'; not 'all' or 'ungrouped')`,
      field,
    );
  }
}
