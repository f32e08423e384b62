import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkKernelArgs,
  DEFAULT_IPXE_RETRY,
  IpxeScriptError,
  renderIpxeScript,
  retryPauses,
  type ImageBootScriptInput,
} from './ipxe-script.js';
import { InvalidError } from '../../core/errors.js';

const MAC = '52:54:00:12:34:56';

function image(overrides: Partial<ImageBootScriptInput> = {}): ImageBootScriptInput {
  return {
    mac: MAC,
    boot: 'image',
    kernel: 'debian-12/vmlinuz',
    initrd: 'debian-12/initrd.img',
    rootfs: { file: 'debian-12/filesystem.squashfs' },
    kernelArgs: 'boot=live console=ttyS0,115200n8 quiet',
    extraKernelArgs: ['hangar.token=abc123'],
    mirrors: ['http://10.0.0.2:8080/images', 'http://10.0.0.3/images/'],
    ...overrides,
  };
}

/** iPXE's tokenizer (src/core/exec.c): whitespace-split; `#` token starts a comment; `||`, `&&`, `;` end a command. */
function tokens(line: string): string[] {
  const all = line.split(/[ \t\n\v\f\r]+/).filter((token) => token !== '');
  const comment = all.findIndex((token) => token.startsWith('#'));
  return comment === -1 ? all : all.slice(0, comment);
}

interface Outcome {
  fetched: string[];
  sleeps: number[];
  /** The command line the booted kernel got, and from which URLs the kernel and initrd came. */
  booted?: { kernel: string; initrd: string; commandLine: string };
  exit?: number;
}

/**
 * Runs a script the way iPXE would for the commands the renderer uses. `serves(url)` says whether a download
 * succeeds. Settings are expanded with `${name}` as in expand_settings.
 */
function run(script: string, serves: (url: string) => boolean): Outcome {
  const lines = script.split('\n');
  assert.equal(lines[0], '#!ipxe');
  const labels = new Map<string, number>();
  lines.forEach((line, index) => {
    const match = /^\s*:(\S+)/.exec(line);
    if (match?.[1]) labels.set(match[1], index);
  });
  const settings = new Map<string, string>();
  const images: { name: string; url: string; args: string[] }[] = [];
  const outcome: Outcome = { fetched: [], sleeps: [] };
  const expand = (token: string) => token.replace(/\$\{([^}]*)\}/g, (_, name: string) => settings.get(name) ?? '');
  const download = (args: string[]): [string, string | undefined, string[]] | undefined => {
    let name: string | undefined;
    let index = 0;
    while (args[index]?.startsWith('--')) {
      if (args[index] === '--name') name = args[index + 1];
      index += 2;
    }
    const url = args[index];
    assert.ok(url, 'a download needs a URL');
    outcome.fetched.push(url);
    return serves(url) ? [url, name, args.slice(index + 1)] : undefined;
  };
  // Returns true for success; a label to jump to, or an exit code, via the thrown value.
  const execute = (argv: string[]): boolean => {
    const [command, ...args] = argv;
    switch (command) {
      case 'imgfree':
        images.length = 0;
        return true;
      case 'set':
        assert.ok(args[0]);
        settings.set(args[0], args.slice(1).join(' '));
        return true;
      case 'kernel': {
        const fetched = download(args);
        if (!fetched) return false;
        images.push({ name: 'kernel', url: fetched[0], args: fetched[2] });
        return true;
      }
      case 'initrd': {
        const fetched = download(args);
        if (!fetched) return false;
        images.push({ name: fetched[1] ?? fetched[0], url: fetched[0], args: fetched[2] });
        return true;
      }
      case 'boot': {
        const kernel = images.find(({ name }) => name === 'kernel');
        const initrd = images.find(({ name }) => name !== 'kernel');
        if (!kernel || !initrd) return false;
        outcome.booted = { kernel: kernel.url, initrd: initrd.url, commandLine: kernel.args.join(' ') };
        throw { stop: true };
      }
      case 'goto': {
        const target = labels.get(args[0] ?? '');
        assert.ok(target !== undefined, `goto ${args[0]} has no label`);
        throw { goto: target };
      }
      case 'echo':
        return true;
      case 'sleep':
        outcome.sleeps.push(Number(args[0]));
        return true;
      case 'exit':
        outcome.exit = Number(args[0] ?? 0);
        throw { stop: true };
      default:
        assert.fail(`unexpected command ${command}`);
    }
  };
  let pc = 1;
  for (let steps = 0; pc < lines.length; steps++) {
    assert.ok(steps < 100_000, 'script does not terminate');
    const line = lines[pc] ?? '';
    pc++;
    const body = line.trimStart().startsWith(':') ? '' : line;
    const all = tokens(body);
    try {
      let status = true;
      let process = true;
      for (let start = 0; start < all.length; ) {
        let end = all.findIndex((token, index) => index >= start && (token === '||' || token === '&&' || token === ';'));
        if (end === -1) end = all.length;
        if (process) status = execute(all.slice(start, end).map(expand));
        const terminator = all[end];
        if (terminator === undefined) break;
        process = terminator === '||' ? !status : terminator === '&&' ? status : true;
        start = end + 1;
      }
      if (!status) {
        outcome.exit = -1; // A failed command without || ends the script.
        return outcome;
      }
    } catch (signal) {
      const jump = signal as { goto?: number; stop?: boolean };
      if (jump.stop) return outcome;
      if (jump.goto !== undefined) pc = jump.goto;
    }
  }
  return outcome;
}

describe('renderIpxeScript', () => {
  test('a local-disk profile exits to the firmware', () => {
    assert.equal(renderIpxeScript({ mac: '52-54-00-12-34-56', boot: 'local' }), '#!ipxe\n# Hangar: 52:54:00:12:34:56 boots from its local disk\nexit\n');
  });

  test('the first mirror that serves both files boots, with fetch= on that same mirror', () => {
    const script = renderIpxeScript(image());
    const lines = script.split('\n');
    assert.equal(lines[0], '#!ipxe');
    assert.ok(lines.includes('set base http://10.0.0.2:8080/images'));
    assert.ok(lines.includes('set base http://10.0.0.3/images'), 'the trailing slash is dropped');
    assert.ok(
      lines.includes(
        'kernel --timeout 120000 ${base}/debian-12/vmlinuz initrd=initrd boot=live console=ttyS0,115200n8 quiet ' +
          'fetch=${base}/debian-12/filesystem.squashfs hangar.token=abc123 || goto round1_mirror2',
      ),
    );
    assert.ok(lines.includes('initrd --timeout 120000 --name initrd ${base}/debian-12/initrd.img || goto round1_mirror2'));

    const first = run(script, () => true);
    assert.deepEqual(first.booted, {
      kernel: 'http://10.0.0.2:8080/images/debian-12/vmlinuz',
      initrd: 'http://10.0.0.2:8080/images/debian-12/initrd.img',
      commandLine:
        'initrd=initrd boot=live console=ttyS0,115200n8 quiet fetch=http://10.0.0.2:8080/images/debian-12/filesystem.squashfs hangar.token=abc123',
    });

    // The first mirror serves the kernel but not the initrd: everything comes from the second one.
    const second = run(script, (url) => url !== 'http://10.0.0.2:8080/images/debian-12/initrd.img');
    assert.equal(second.booted?.kernel, 'http://10.0.0.3/images/debian-12/vmlinuz');
    assert.match(second.booted?.commandLine ?? '', / fetch=http:\/\/10\.0\.0\.3\/images\/debian-12\/filesystem\.squashfs /);
    assert.deepEqual(second.sleeps, []);
  });

  test('when every mirror fails it sleeps with growing jittered pauses, then exits 1 after the last round', () => {
    const outcome = run(renderIpxeScript(image()), () => false);
    assert.equal(outcome.exit, 1);
    assert.equal(outcome.booted, undefined);
    assert.deepEqual(outcome.sleeps, retryPauses(MAC));
    assert.equal(outcome.fetched.length, DEFAULT_IPXE_RETRY.rounds * 2, 'one kernel attempt per mirror per round');
    const pauses = retryPauses(MAC);
    assert.equal(pauses.length, DEFAULT_IPXE_RETRY.rounds - 1);
    pauses.forEach((pause, index) => {
      const base = Math.min(DEFAULT_IPXE_RETRY.maxDelaySeconds, DEFAULT_IPXE_RETRY.firstDelaySeconds * 2 ** index);
      assert.ok(Number.isInteger(pause) && pause >= base && pause < 3 * base, `pause ${index + 1} is ${pause}`);
    });
  });

  test('pauses differ between machines but not between renderings', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 50; index++) {
      const mac = `52:54:00:00:00:${index.toString(16).padStart(2, '0')}`;
      assert.deepEqual(retryPauses(mac), retryPauses(mac.toUpperCase()));
      seen.add(retryPauses(mac).join(','));
    }
    assert.ok(seen.size > 40, `only ${seen.size} distinct pause sequences for 50 machines`);
  });

  test('a recovering mirror boots in a later round', () => {
    let attempts = 0;
    const outcome = run(renderIpxeScript(image({ retry: { rounds: 3 } })), (url) => !url.endsWith('vmlinuz') || ++attempts > 3);
    assert.equal(outcome.sleeps.length, 1);
    assert.equal(outcome.booted?.kernel, 'http://10.0.0.3/images/debian-12/vmlinuz');
  });

  test('file names are percent-encoded, so no character of theirs reaches iPXE raw', () => {
    const script = renderIpxeScript(image({ kernel: 'odd dir/vm ${x} #1 || a.efi', rootfs: undefined }));
    assert.ok(script.includes('${base}/odd%20dir/vm%20%24%7Bx%7D%20%231%20%7C%7C%20a.efi initrd=initrd'));
  });

  test('without a rootfs there is no fetch=', () => {
    assert.ok(!renderIpxeScript(image({ rootfs: undefined })).includes('fetch='));
  });

  test('unsafe values are refused with the field named', () => {
    const cases: [Partial<ImageBootScriptInput>, string][] = [
      [{ kernelArgs: 'quiet\nexit' }, 'kernelArgs'],
      [{ kernelArgs: 'quiet\rexit' }, 'kernelArgs'],
      [{ kernelArgs: 'a\tb' }, 'kernelArgs'],
      [{ kernelArgs: 'root=${root}' }, 'kernelArgs'],
      [{ kernelArgs: 'quiet || exit' }, 'kernelArgs'],
      [{ kernelArgs: 'quiet && exit' }, 'kernelArgs'],
      [{ kernelArgs: 'quiet ; exit' }, 'kernelArgs'],
      [{ kernelArgs: 'quiet #comment' }, 'kernelArgs'],
      [{ kernelArgs: 'fetch=http://x/y.squashfs' }, 'kernelArgs'],
      [{ kernelArgs: 'x'.repeat(2000) }, 'kernelArgs'],
      [{ extraKernelArgs: ['two words'] }, 'extraKernelArgs.0'],
      [{ extraKernelArgs: ['ok', ''] }, 'extraKernelArgs.1'],
      [{ extraKernelArgs: ['tok\n'] }, 'extraKernelArgs.0'],
      [{ mirrors: [] }, 'mirrors'],
      [{ mirrors: ['http://a/', 'ftp://b/'] }, 'mirrors.1'],
      [{ mirrors: ['http://a/x\\'] }, 'mirrors.0'],
      [{ mirrors: ['http://a/${x}'] }, 'mirrors.0'],
      [{ mirrors: ['http://a/\tb'] }, 'mirrors.0'],
      [{ mirrors: ['http://a/?q=1'] }, 'mirrors.0'],
      [{ mirrors: ['http://u:p@a/'] }, 'mirrors.0'],
      [{ mirrors: ['http://a/i', 'http://a/i/'] }, 'mirrors.1'],
      [{ mirrors: ['not a url'] }, 'mirrors.0'],
      [{ kernel: '/abs/vmlinuz' }, 'kernel'],
      [{ initrd: 'a/../../etc/passwd' }, 'initrd'],
      [{ rootfs: { file: 'root.img' } }, 'rootfs.file'],
      [{ retry: { rounds: 0 } }, 'retry.rounds'],
      [{ retry: { firstDelaySeconds: 30, maxDelaySeconds: 10 } }, 'retry.maxDelaySeconds'],
      [{ retry: { stallTimeoutSeconds: 1.5 } }, 'retry.stallTimeoutSeconds'],
    ];
    for (const [overrides, field] of cases) {
      assert.throws(
        () => renderIpxeScript(image(overrides)),
        (error: unknown) => error instanceof IpxeScriptError && error.field === field,
        `${JSON.stringify(overrides)} should be refused on ${field}`,
      );
    }
    assert.throws(
      () => renderIpxeScript({ mac: 'not-a-mac', boot: 'local' }),
      (error: unknown) => error instanceof InvalidError && error.field === 'mac',
    );
  });

  test('checkKernelArgs accepts ordinary command lines', () => {
    for (const args of ['', 'quiet', 'console=ttyS0,115200n8 root=LABEL=root ro', 'a||b x#y $HOME {x}', 'ip=::::host:eth0:dhcp']) {
      assert.doesNotThrow(() => checkKernelArgs(args, 'kernelArgs'));
    }
  });
});

const safeToken = fc.stringMatching(/^[A-Za-z0-9._=,:\/+\-"'|&#${}]{1,12}$/).filter((token) => {
  try {
    checkKernelArgs(token, 't');
    return true;
  } catch {
    return false;
  }
});
const pathSegment = fc.stringMatching(/^[A-Za-z0-9 ._~${}#|&;%-]{1,10}$/).filter((segment) => segment !== '.' && segment !== '..');
const path = fc.array(pathSegment, { minLength: 1, maxLength: 3 }).map((segments) => segments.join('/'));
const validInput = fc.record({
  mac: fc.uint8Array({ minLength: 6, maxLength: 6 }).map((bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':')),
  kernel: path,
  initrd: path,
  rootfs: fc.option(path.map((file) => ({ file: `${file}.squashfs` })), { nil: undefined }),
  kernelArgs: fc.array(safeToken, { maxLength: 8 }).chain((args) => fc.constantFrom(args.join(' '), args.join('   '))),
  extraKernelArgs: fc.array(safeToken, { maxLength: 3 }),
  mirrors: fc.uniqueArray(fc.integer({ min: 1, max: 250 }), { minLength: 1, maxLength: 5 }).map((hosts) =>
    hosts.map((host, index) => `http://10.1.0.${host}${index % 2 ? ':8080' : ''}/images${index % 3 ? '/' : ''}`),
  ),
  retry: fc.record({ rounds: fc.integer({ min: 1, max: 5 }) }),
});

describe('renderIpxeScript properties', () => {
  test('every goto has its label, every line is one the renderer writes, and mirrors keep their order', () => {
    const shapes = [
      /^#!ipxe$/,
      /^# Hangar: [0-9a-f:]{17} boots from \d+ mirror\(s\), at most \d+ round\(s\)$/,
      /^:[a-z0-9_]+$/,
      /^imgfree$/,
      /^set base \S+$/,
      /^kernel --timeout \d+ \$\{base\}\/\S+ initrd=initrd( \S+)* \|\| goto [a-z0-9_]+$/,
      /^initrd --timeout \d+ --name initrd \$\{base\}\/\S+ \|\| goto [a-z0-9_]+$/,
      /^boot \|\| goto [a-z0-9_]+$/,
      /^echo Hangar: [^#|&;$]*$/,
      /^sleep \d+$/,
      /^exit 1$/,
      /^$/,
    ];
    fc.assert(
      fc.property(validInput, (input) => {
        const script = renderIpxeScript({ ...input, boot: 'image' });
        const lines = script.split('\n');
        assert.equal(lines[0], '#!ipxe');
        assert.equal(lines.at(-1), '', 'the script ends with a newline');
        const labels = new Set(lines.filter((line) => line.startsWith(':')).map((line) => line.slice(1)));
        for (const line of lines) {
          assert.ok(shapes.some((shape) => shape.test(line)), `unexpected line ${JSON.stringify(line)}`);
          assert.ok(!line.endsWith('\\'), 'no line continues onto the next');
          const goto = / goto (\S+)$/.exec(line);
          if (goto?.[1]) assert.ok(labels.has(goto[1]), `goto ${goto[1]} has no label`);
        }
        const bases = lines.filter((line) => line.startsWith('set base ')).map((line) => line.slice('set base '.length));
        const expected = input.mirrors.map((mirror) => mirror.replace(/\/+$/, ''));
        assert.deepEqual(bases, Array.from({ length: input.retry.rounds }, () => expected).flat());
      }),
      { numRuns: 500 },
    );
  });

  test('the kernel sees exactly the profile arguments, fetch= on its own mirror and the extra arguments', () => {
    fc.assert(
      fc.property(validInput, fc.nat(), (input, pick) => {
        const working = input.mirrors[pick % input.mirrors.length]!.replace(/\/+$/, '');
        const outcome = run(renderIpxeScript({ ...input, boot: 'image' }), (url) => url.startsWith(`${working}/`));
        assert.ok(outcome.booted, 'the working mirror boots');
        const expected = [
          'initrd=initrd',
          ...input.kernelArgs.split(' ').filter((token) => token !== ''),
          ...(input.rootfs ? [`fetch=${working}/${input.rootfs.file.split('/').map(encodeURIComponent).join('/')}`] : []),
          ...input.extraKernelArgs,
        ];
        assert.equal(outcome.booted.commandLine, expected.join(' '));
        assert.equal(decodeURI(outcome.booted.kernel.slice(working.length + 1)).length > 0, true);
        assert.deepEqual(
          outcome.booted.kernel.slice(working.length + 1).split('/').map(decodeURIComponent),
          input.kernel.split('/'),
        );
      }),
      { numRuns: 500 },
    );
  });

  test('an injected iPXE metacharacter or line break in the arguments is always refused', () => {
    const poison = fc.constantFrom('\n', '\r', '\t', ' || ', ' && ', ' ; ', ' #', '${x}', '\u0000', '\u007f');
    fc.assert(
      fc.property(validInput, poison, fc.nat(), (input, bad, at) => {
        const args = input.kernelArgs;
        const position = at % (args.length + 1);
        const kernelArgs = `${args.slice(0, position)}${bad}${args.slice(position)}`;
        assert.throws(
          () => renderIpxeScript({ ...input, boot: 'image', kernelArgs }),
          (error: unknown) => error instanceof IpxeScriptError && error.field === 'kernelArgs',
        );
      }),
      { numRuns: 500 },
    );
  });
});
