/**
 * The `ansible-playbook` command line and environment for one run. Everything variable (inventory, extra vars,
 * the host list for `--limit`) travels in files, so nothing from a job reaches argv but paths and a fork count.
 */

/** Files the runner wrote into the run's private directory. */
export interface RunFiles {
  readonly inventory: string;
  /** JSON object of extra vars, passed as `-e @file`. */
  readonly extraVars?: string;
  /** One host name a line, passed as `--limit @file`. */
  readonly limit?: string;
  /** Ansible's local temporary directory, so its leftovers go with the run's directory. */
  readonly localTemp: string;
}

export interface InvocationOptions {
  readonly playbook: string;
  readonly forks?: number;
  /** Defaults to off: freshly installed machines have host keys no one has seen yet. */
  readonly hostKeyChecking?: boolean;
  /** Added last, over Hangar's settings. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface Invocation {
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** The settings the result parsing depends on; a project's ansible.cfg cannot change them. */
export const ANSIBLE_ENV: Readonly<Record<string, string>> = {
  ANSIBLE_STDOUT_CALLBACK: 'ansible.posix.jsonl',
  // One event per line: the jsonl callback indents across lines when json_indent is above 0.
  ANSIBLE_JSON_INDENT: '0',
  ANSIBLE_FORCE_COLOR: '0',
  ANSIBLE_NOCOLOR: '1',
  ANSIBLE_INVENTORY_ENABLED: 'yaml',
  ANSIBLE_RETRY_FILES_ENABLED: '0',
  // Ansible refuses to start without a UTF-8 locale.
  LC_ALL: 'C.UTF-8',
  PYTHONUNBUFFERED: '1',
};

/** Arguments and environment (to lay over the parent's) for `ansible-playbook`; the caller has checked `forks`. */
export function playbookInvocation(options: InvocationOptions, files: RunFiles): Invocation {
  const args = ['-i', files.inventory];
  if (options.forks !== undefined) args.push('--forks', String(options.forks));
  if (files.limit !== undefined) args.push('--limit', `@${files.limit}`);
  if (files.extraVars !== undefined) args.push('--extra-vars', `@${files.extraVars}`);
  // `--` keeps a playbook path starting with '-' from reading as an option.
  args.push('--', options.playbook);
  const env = {
    ...ANSIBLE_ENV,
    ANSIBLE_HOST_KEY_CHECKING: options.hostKeyChecking === true ? '1' : '0',
    ANSIBLE_LOCAL_TEMP: files.localTemp,
    ...options.env,
  };
  return { args, env };
}
