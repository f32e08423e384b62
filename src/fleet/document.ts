import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { load as loadYaml, YAMLException } from 'js-yaml';
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { InvalidError } from '../core/errors.js';
import { formatAddress, formatAddressWithMask, normalizeMac, parseAddressWithMask, parsePrefix } from '../core/net/index.js';
import { isRequired, normalizeIpv4, normalizeListItem, type Field } from '../inventory/model.js';
import type { FleetValue, Kind } from './kinds.js';

/**
 * The fleet repository: YAML files whose top-level keys are the kinds' lists. This module turns the files into the
 * desired objects the planner compares with the store, and publishes the format as a JSON Schema. Every error names
 * the file, line and column, so nothing is applied from a repository that is not entirely valid.
 */

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export interface RepositoryFile {
  /** Path relative to the repository root, `/`-separated. */
  path: string;
  content: string;
}

export interface FleetSettings {
  /** Whether sync may delete managed objects that left the repository (`hangar apply` asks for --allow-delete). */
  allow_delete: boolean;
}

/** One object the repository asks for, in repository form. */
export interface DesiredObject {
  kind: Kind;
  key: string;
  values: Record<string, FleetValue>;
  tags: string[] | null;
  /** An IP address the apply allocates from this prefix; its address is kept stable after that. */
  allocateFrom?: string;
  /** The key the object had in the repository before a rename (`renamed_from`): it keeps its identity. */
  renamedFrom?: string;
  /** Where the object is written: the file and the path inside it. */
  file: string;
  path: Path;
  /** `file:devices[3].interfaces[0]`, for messages. */
  source: string;
}

export interface DesiredFleet {
  objects: DesiredObject[];
  settings: FleetSettings;
}

type Path = ReadonlyArray<string | number>;

/** A problem found in a file, placed by its path in the data; `locateProblems` turns it into line and column. */
export interface Problem {
  file: string;
  path: Path;
  /** The offending key of the mapping at `path` (an unknown field), when the key itself is at fault. */
  key?: string;
  message: string;
}

export interface LocatedProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** A repository that cannot be applied: every problem found, each with its place. */
export class FleetRepositoryError extends InvalidError {
  constructor(readonly problems: LocatedProblem[]) {
    super(
      `the fleet repository is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  ${p.file}:${p.line}:${p.column}: ${p.message}`).join('\n'),
    );
  }
}

const MAX_PROBLEMS = 50;
/** Nested lists: interfaces are written inside their device, image versions inside their image. */
const NESTED = { devices: { list: 'interfaces', parentField: 'device' }, images: { list: 'versions', parentField: 'image' } } as const;
const IMAGE_REF = '^[a-z0-9][a-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._+-]*$';

type Json = Record<string, unknown>;

/** JSON Schema (draft 2020-12 compatible subset) of one repository file. */
export function fleetSchema(kinds: readonly Kind[]): Json {
  const byList = new Map(kinds.map((kind) => [kind.list, kind]));
  const itemSchema = (kind: Kind, omit: readonly string[] = []): Json => {
    const properties: Json = {};
    const required: string[] = [];
    for (const name of kind.spec.fields) {
      if (omit.includes(name) || isDerived(kind, name)) continue;
      const field = kind.field(name);
      properties[name] = fieldSchema(kind, name, field);
      if (kind.spec.key.includes(name) || isRequired(field)) required.push(name);
    }
    if (kind.spec.tags) properties.tags = { type: 'array', items: { type: 'string' }, uniqueItems: true, description: 'tag slugs' };
    if (!kind.spec.nested) properties.renamed_from = { type: 'string', description: 'the key this object had before a rename: it keeps its identity (and history)' };
    return { type: 'object', properties, required, additionalProperties: false };
  };
  const listOf = (items: Json, description: string): Json => ({ type: 'array', items, description });
  const properties: Json = {
    settings: {
      type: 'object',
      properties: { allow_delete: { type: 'boolean', description: 'sync may delete managed objects that left the repository' } },
      additionalProperties: false,
    },
  };
  for (const kind of kinds) {
    if (kind.spec.nested) continue;
    const item = itemSchema(kind);
    const nested = NESTED[kind.list as keyof typeof NESTED];
    if (nested) {
      const child = byList.get(nested.list)!;
      const childItem = itemSchema(child, [nested.parentField]);
      if (child.list === 'interfaces') (childItem.properties as Json).addresses = listOf(interfaceAddressSchema(), 'addresses of the interface');
      (item.properties as Json)[nested.list] = listOf(childItem, `${child.resource.label}s`);
    }
    properties[kind.list] = listOf(item, `${kind.resource.label}s`);
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://hangar.dev/schemas/fleet.json',
    title: 'Hangar fleet repository file',
    type: 'object',
    properties,
    additionalProperties: false,
  };
}

function interfaceAddressSchema(): Json {
  return {
    oneOf: [
      { type: 'string', description: 'an address with its mask, 10.0.0.5/24' },
      {
        type: 'object',
        properties: {
          address: { type: 'string', description: 'an address with its mask' },
          allocate: { type: 'string', description: 'a prefix to allocate the address from at apply; kept stable afterwards' },
          primary: { type: 'boolean', description: "the device's primary IPv4 address" },
          status: { enum: ['active', 'reserved', 'deprecated', 'dhcp', 'slaac'] },
          dns_name: { type: 'string', maxLength: 255 },
          description: { type: 'string', maxLength: 200 },
        },
        oneOf: [{ required: ['address'] }, { required: ['allocate'] }],
        additionalProperties: false,
      },
    ],
  };
}

/** Fields the flattener fills in, never written in the repository (a device's primary address). */
function isDerived(kind: Kind, name: string): boolean {
  return kind.list === 'devices' && name === 'primary_ip4';
}

function fieldSchema(kind: Kind, name: string, field: Field): Json {
  const nullable = (schema: Json): Json => ({ anyOf: [schema, { type: 'null' }] });
  switch (field.type) {
    case 'string': {
      const schema: Json = { type: 'string', maxLength: field.max, ...(field.pattern ? { pattern: field.pattern } : {}) };
      return field.nullable ? nullable(schema) : schema;
    }
    case 'slug':
      return { type: 'string', pattern: '^[-a-zA-Z0-9_]{1,100}$' };
    case 'integer':
    case 'decimal': {
      const schema: Json = { type: field.type === 'integer' ? 'integer' : 'number', ...(field.min !== undefined ? { minimum: field.min } : {}), ...(field.max !== undefined ? { maximum: field.max } : {}) };
      return field.nullable ? nullable(schema) : schema;
    }
    case 'boolean':
      return { type: 'boolean' };
    case 'date':
      return nullable({ type: 'string', format: 'date' });
    case 'choice':
      return { enum: [...Object.keys(field.choices), ...(field.nullable ? [null] : [])] };
    case 'ref':
      if (kind.list === 'profiles' && name === 'image') return nullable({ type: 'string', pattern: IMAGE_REF, description: 'image name@version' });
      return { ...(field.required ? { type: 'string', minLength: 1 } : nullable({ type: 'string', minLength: 1 })), description: `the ${field.to} it refers to` };
    case 'mac':
      return nullable({ type: 'string', description: 'a MAC address' });
    case 'color':
      return { type: 'string', pattern: '^[0-9a-f]{6}$' };
    case 'ipv4':
      return nullable({ type: 'string', format: 'ipv4' });
    case 'list':
      return { type: 'array', items: { type: 'string' }, maxItems: field.max };
  }
}

/** Compiles the schema once; the validator is reused for every file of every plan. */
export function fileValidator(kinds: readonly Kind[]) {
  const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
  addFormats(ajv);
  return ajv.compile(fleetSchema(kinds));
}

/**
 * Parses and checks every file, then flattens them into desired objects; throws FleetRepositoryError. Parsing takes
 * the fast path (js-yaml, about ten times quicker on a 10,000-device repository); only a file with problems is
 * parsed again with positions, to name their lines and columns.
 */
export function readFleet(files: readonly RepositoryFile[], kinds: readonly Kind[], validate: ReturnType<typeof fileValidator>): DesiredFleet {
  const problems: Array<Problem | LocatedProblem> = [];
  const byList = new Map(kinds.map((kind) => [kind.list, kind]));
  const settings: FleetSettings = { allow_delete: false };
  const objects: DesiredObject[] = [];
  const seen = new Map<string, DesiredObject>();

  for (const file of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    let data: unknown;
    try {
      data = loadYaml(file.content, { filename: file.path }) ?? {};
    } catch (error) {
      const mark = error instanceof YAMLException ? error.mark : undefined;
      problems.push({ file: file.path, line: (mark?.line ?? 0) + 1, column: (mark?.column ?? 0) + 1, message: (error instanceof YAMLException ? error.reason : String(error)) || 'not valid YAML' });
      continue;
    }
    if (!validate(data)) {
      for (const error of (validate.errors ?? []).filter(usefulError).slice(0, MAX_PROBLEMS)) problems.push(problemOf(file.path, error));
      continue;
    }
    const content = data as Json;
    if (content.settings) Object.assign(settings, content.settings);
    const fail: Fail = (path, message) => problems.push({ file: file.path, path, message });
    const add = (object: DesiredObject) => {
      const id = `${object.kind.spec.objectType} ${object.key}`;
      const earlier = seen.get(id);
      if (earlier) return fail(object.path, `${object.kind.resource.label} '${object.key}' is already declared at ${earlier.source}`);
      seen.set(id, object);
      objects.push(object);
    };
    for (const kind of kinds) {
      if (kind.spec.nested) continue;
      const items = (content[kind.list] ?? []) as Json[];
      items.forEach((item, index) => {
        const path = [kind.list, index];
        const object = desiredObject(kind, item, file.path, path, fail);
        if (!object) return;
        add(object);
        const nested = NESTED[kind.list as keyof typeof NESTED];
        if (!nested) return;
        const child = byList.get(nested.list)!;
        ((item[nested.list] ?? []) as Json[]).forEach((childItem, childIndex) => {
          const childPath = [...path, nested.list, childIndex];
          const { addresses, ...fields } = childItem;
          const childObject = desiredObject(child, { ...fields, [nested.parentField]: object.key }, file.path, childPath, fail);
          if (!childObject) return;
          add(childObject);
          if (child.list === 'interfaces') {
            for (const address of interfaceAddresses(byList.get('addresses')!, object, childObject, (addresses ?? []) as unknown[], file.path, childPath, fail)) add(address);
          }
        });
      });
    }
  }
  if (problems.length > 0) throw new FleetRepositoryError(locateProblems(files, problems.slice(0, MAX_PROBLEMS)));
  // Kind order is dependency order (sites before racks before devices), whatever file an object came from.
  const rank = new Map(kinds.map((kind, index) => [kind, index]));
  objects.sort((a, b) => rank.get(a.kind)! - rank.get(b.kind)!);
  return { objects, settings };
}

/** Gives each problem its line and column, parsing each file concerned once more with positions. */
export function locateProblems(files: readonly RepositoryFile[], problems: ReadonlyArray<Problem | LocatedProblem>): LocatedProblem[] {
  const documents = new Map<string, { doc: Document; lines: LineCounter }>();
  return problems.map((problem) => {
    if ('line' in problem) return problem;
    let parsed = documents.get(problem.file);
    if (!parsed) {
      const lines = new LineCounter();
      const content = files.find((file) => file.path === problem.file)?.content ?? '';
      parsed = { doc: parseDocument(content, { lineCounter: lines }), lines };
      documents.set(problem.file, parsed);
    }
    const { line, column } = locateNode(parsed.doc, problem.path, problem.key, (offset) => {
      const position = parsed.lines.linePos(offset);
      return { line: position.line, column: position.col };
    });
    return { file: problem.file, line, column, message: problem.message };
  });
}

/** ajv reports every branch of a failed oneOf; the branch errors say more than the oneOf itself. */
function usefulError(error: ErrorObject): boolean {
  return error.keyword !== 'oneOf' && error.keyword !== 'anyOf';
}

function problemOf(file: string, error: ErrorObject): Problem {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
  const params = error.params as Record<string, unknown>;
  const where = path.length > 0 ? `${describePath(path)}: ` : '';
  switch (error.keyword) {
    case 'additionalProperties':
      return { file, path, key: String(params.additionalProperty), message: `${where}unknown field '${String(params.additionalProperty)}'` };
    case 'required':
      return { file, path, message: `${where}missing required field '${String(params.missingProperty)}'` };
    case 'enum':
      return { file, path, message: `${where}must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}` };
    default:
      return { file, path, message: `${where}${error.message ?? 'is invalid'}` };
  }
}

/** `devices[3].interfaces[0].mac` */
export function describePath(path: Path): string {
  return path.map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : index === 0 ? segment : `.${segment}`)).join('');
}

/** The position of the node at `path` (or of its key `key`); the nearest existing ancestor when it is absent. */
function locateNode(doc: Document, path: Path, key: string | undefined, at: (offset: number) => { line: number; column: number }) {
  for (let depth = path.length; depth >= 0; depth--) {
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (!isNode(node) || !node.range) continue;
    if (key !== undefined && depth === path.length && isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && item.key.value === key);
      if (pair && isScalar(pair.key) && pair.key.range) return at(pair.key.range[0]);
    }
    return at(node.range[0]);
  }
  return { line: 1, column: 1 };
}

type Fail = (path: Path, message: string) => void;

function desiredObject(kind: Kind, item: Json, file: string, path: Path, fail: Fail): DesiredObject | undefined {
  const values: Record<string, FleetValue> = {};
  let ok = true;
  for (const name of kind.spec.fields) {
    const raw = item[name];
    if (raw === undefined || raw === null) {
      values[name] = kind.defaultValue(name);
      continue;
    }
    try {
      values[name] = normalizeValue(kind, name, raw, `${describePath(path)}.${name}`);
    } catch (error) {
      fail([...path, name], error instanceof Error ? error.message : String(error));
      ok = false;
    }
  }
  // References written relative to another field (a rack within the device's site) become full keys.
  for (const [name, scope] of Object.entries(kind.spec.scoped ?? {})) {
    if (values[name] !== null && values[name] !== undefined) values[name] = `${String(values[scope])}/${String(values[name])}`;
  }
  if (!ok) return undefined;
  const tags = kind.spec.tags ? [...((item.tags as string[] | undefined) ?? [])].sort() : null;
  const renamedFrom = typeof item.renamed_from === 'string' ? { renamedFrom: item.renamed_from } : {};
  return { kind, key: kind.keyOf(values), values, tags, ...renamedFrom, file, path, source: `${file}:${describePath(path)}` };
}

/** Canonical forms, so a plan never shows `aa:bb:...` against `AA:BB:...` as a change. */
function normalizeValue(kind: Kind, name: string, raw: unknown, at: string): FleetValue {
  const field = kind.field(name);
  const prefixField = (kind.list === 'prefixes' || kind.list === 'boot_subnets') && name === 'prefix';
  if (prefixField) {
    const prefix = parsePrefix(String(raw), at);
    return `${formatAddress(prefix.network)}/${prefix.length}`;
  }
  if ((kind.list === 'ranges' && (name === 'start' || name === 'end')) || (kind.list === 'addresses' && name === 'address')) {
    return formatAddressWithMask(parseAddressWithMask(String(raw), at));
  }
  switch (field.type) {
    case 'mac':
      return normalizeMac(String(raw), at);
    case 'ipv4':
      return normalizeIpv4(raw, at);
    case 'list':
      return (raw as unknown[]).map((item, index) => normalizeListItem(field.item, item, `${at}[${index}]`));
    default:
      return raw as FleetValue;
  }
}

/** The addresses written inside an interface: literal ones, and ones to allocate (keyed by their place). */
function interfaceAddresses(
  kind: Kind,
  device: DesiredObject,
  iface: DesiredObject,
  entries: readonly unknown[],
  file: string,
  path: Path,
  fail: Fail,
): DesiredObject[] {
  const out: DesiredObject[] = [];
  const allocations = new Map<string, number>();
  entries.forEach((entry, index) => {
    const entryPath = [...path, 'addresses', index];
    const spec = (typeof entry === 'string' ? { address: entry } : entry) as Json;
    const item: Json = { status: spec.status, dns_name: spec.dns_name, description: spec.description, tenant: device.values.tenant, interface: iface.key };
    let allocateFrom: string | undefined;
    if (typeof spec.allocate === 'string') {
      try {
        const prefix = parsePrefix(spec.allocate, `${describePath(entryPath)}.allocate`);
        allocateFrom = `${formatAddress(prefix.network)}/${prefix.length}`;
      } catch (error) {
        fail(entryPath, (error as Error).message);
        return;
      }
    } else {
      item.address = spec.address;
    }
    const object = desiredObject(kind, item, file, entryPath, fail);
    if (!object) return;
    if (allocateFrom) {
      const nth = (allocations.get(allocateFrom) ?? 0) + 1;
      allocations.set(allocateFrom, nth);
      delete object.values.address;
      object.allocateFrom = allocateFrom;
      object.key = `${iface.key}/${allocateFrom}#${nth}`;
    }
    if (spec.primary === true) {
      if (device.values.primary_ip4 !== null) fail(entryPath, `device '${device.key}' already has a primary address`);
      device.values.primary_ip4 = object.key;
    }
    out.push(object);
  });
  return out;
}
