// A small Dockerfile reader for the instructions wq's images use (ARG, FROM, RUN, COPY, WORKDIR, USER,
// ENV, ENTRYPOINT, CMD), and the checks a worker image must pass. There is no Docker engine on the
// project's machines, so the tests read the Dockerfiles and emulate the image from them.

export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  raw: string;
  /** The JSON (exec) form's argv, when the instruction is written that way. */
  exec?: string[];
  line: number;
}

export interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  args: Record<string, string>;
  stages: Stage[];
  /** Every instruction, in order. */
  all: Instruction[];
}

export interface Copy {
  /** The stage (or image) copied from; undefined for the build context. */
  from?: string;
  sources: string[];
  dest: string;
}

/** What a container started from the image runs, as Docker computes it from the image and its parents. */
export interface ImageConfig {
  entrypoint?: Instruction;
  cmd?: Instruction;
  user?: string;
  /** The files put into the image, parents' first. */
  copies: Copy[];
}

export function parseDockerfile(text: string): Dockerfile {
  const df: Dockerfile = { args: {}, stages: [], all: instructions(text) };
  for (const ins of df.all) {
    if (ins.keyword === 'FROM') {
      const words = ins.raw.split(/\s+/).filter((w) => !w.startsWith('--'));
      const image = (words[0] ?? '').replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string, b: string) => df.args[a ?? b] ?? '');
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      df.stages.push({ image, name: as >= 0 ? words[as + 1] : undefined, instructions: [] });
    } else if (df.stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      const [name, value = ''] = ins.raw.split('=', 2);
      df.args[(name ?? '').trim()] = value.trim();
    } else {
      (df.stages[df.stages.length - 1] as Stage).instructions.push(ins);
    }
  }
  if (df.stages.length === 0) throw new Error('no FROM: not a Dockerfile');
  return df;
}

function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = (lines[i] as string).trim();
    if (!line || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1);
      let next = (lines[++i] as string).trim();
      while (next.startsWith('#') && i + 1 < lines.length) next = (lines[++i] as string).trim();
      line += ` ${next}`;
    }
    const match = /^(\w+)\s*(.*)$/s.exec(line);
    if (!match) throw new Error(`line ${start + 1}: cannot read "${line}"`);
    const keyword = (match[1] as string).toUpperCase();
    const raw = (match[2] as string).trim();
    out.push({ keyword, raw, exec: execForm(raw), line: start + 1 });
  }
  return out;
}

function execForm(raw: string): string[] | undefined {
  if (!raw.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) && parsed.every((p) => typeof p === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
    .map((i) => {
      const words = i.exec ?? i.raw.split(/\s+/);
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] as string };
    });
}

const last = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).pop();

/** The final stage's run configuration, on top of a parent image's (for FROM one of our own images). */
export function imageConfig(df: Dockerfile, parent?: ImageConfig): ImageConfig {
  const stage = df.stages[df.stages.length - 1] as Stage;
  const entrypoint = last(stage, 'ENTRYPOINT');
  // Docker resets an inherited CMD when the image sets its own ENTRYPOINT.
  const cmd = last(stage, 'CMD') ?? (entrypoint ? undefined : parent?.cmd);
  return {
    entrypoint: entrypoint ?? parent?.entrypoint,
    cmd,
    user: last(stage, 'USER')?.raw ?? parent?.user,
    copies: [...(parent?.copies ?? []), ...copies(stage)],
  };
}

const INITS = ['tini', 'tini-static', 'dumb-init', 'catatonit'];
const SECRET_NAME = /PASS(WORD|WD)?|SECRET|TOKEN|PRIVATE_?KEY|API_?KEY|CREDENTIAL/i;
const URL_WITH_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i;
const SECRET_FILE = /(^|\/)(\.env(\..*)?|\.npmrc|\.netrc|id_rsa|id_ed25519|.*\.pem|.*\.key)$/;

/** What is wrong with an image for Kubernetes: each problem as one line; none means it passes. */
export function auditImage(config: ImageConfig, all: Instruction[]): string[] {
  const problems: string[] = [];
  const { entrypoint, cmd, user } = config;
  if (!entrypoint) problems.push('no ENTRYPOINT: the worker would start without wq-consume');
  else if (!entrypoint.exec) problems.push(`line ${entrypoint.line}: ENTRYPOINT in shell form: /bin/sh becomes PID 1 and SIGTERM never reaches the program`);
  else if (!INITS.includes(basename(entrypoint.exec[0] ?? ''))) problems.push(`line ${entrypoint.line}: the ENTRYPOINT does not start an init (${INITS.join(', ')}) to forward signals and reap zombies`);
  if (cmd && !cmd.exec) problems.push(`line ${cmd.line}: CMD in shell form: it runs under /bin/sh -c`);
  if (!user) problems.push('no USER: the container runs as root');
  else if (!/^\d+(:\d+)?$/.test(user)) problems.push(`USER ${user} is not numeric: Kubernetes' runAsNonRoot cannot verify a user name`);
  else if (Number(user.split(':')[0]) === 0) problems.push('USER 0: the container runs as root');
  for (const ins of all) {
    if (ins.keyword === 'ENV' || ins.keyword === 'ARG') {
      const words = ins.raw.split(/\s+/);
      const names = ins.raw.includes('=') ? words.map((w) => w.split('=')[0] as string) : words.slice(0, 1);
      for (const name of names) {
        if (SECRET_NAME.test(name)) problems.push(`line ${ins.line}: ${ins.keyword} ${name} bakes a secret into the image; pass it at run time`);
      }
    }
    if (URL_WITH_PASSWORD.test(ins.raw)) problems.push(`line ${ins.line}: a URL with a password in ${ins.keyword}`);
    if ((ins.keyword === 'COPY' || ins.keyword === 'ADD') && (ins.exec ?? ins.raw.split(/\s+/)).some((w) => SECRET_FILE.test(w))) {
      problems.push(`line ${ins.line}: ${ins.keyword} of a secret file`);
    }
  }
  return problems;
}

const basename = (path: string) => path.slice(path.lastIndexOf('/') + 1);
