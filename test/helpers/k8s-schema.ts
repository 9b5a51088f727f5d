// Offline validation of Kubernetes manifests against Kubernetes' own API types (kubernetes-types,
// generated from the OpenAPI spec): each YAML document becomes `const m: <Kind> = <its JSON>;` and the
// TypeScript compiler checks it. A fresh object literal gets excess-property checks at every depth, so a
// misspelt field fails; so does a wrong type, a missing required field, or an apiVersion the kind does
// not have. No cluster, no network. Two differences from the API server: TypeScript reports the first
// problem in a manifest, not all of them (it still fails), and quantities must be strings
// (cpu: "1", not cpu: 1), as kubernetes-types declares them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Manifest {
  file: string;
  /** 0-based position of the document in its file. */
  index: number;
  doc: Record<string, unknown>;
}

/** Every non-empty YAML document in a file, as plain data; a YAML error (duplicate key...) throws. */
export function loadManifests(file: string, text = readFileSync(file, 'utf8')): Manifest[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return [];
  return docs
    .map((d, index) => {
      const problem = d.errors[0] ?? d.warnings[0];
      if (problem) throw new Error(`${file} document ${index + 1}: ${problem.message}`);
      return { file, index, doc: d.toJS() as Record<string, unknown> };
    })
    .filter((m) => m.doc !== null && m.doc !== undefined);
}

const OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts'],
  types: [],
  skipLibCheck: true,
};

// Parsed declaration files (TypeScript's lib, kubernetes-types), kept across calls: parsing them is
// most of the cost, and they do not change.
const parsed = new Map<string, ts.SourceFile>();

/** Problems, one line each, naming the file, document, kind, name and field path; [] when all are valid. */
export function validateManifests(manifests: Manifest[]): string[] {
  const problems: string[] = [];
  const virtual = new Map<string, { text: string; manifest: Manifest }>();
  manifests.forEach((manifest, i) => {
    const { apiVersion, kind } = manifest.doc;
    if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[A-Za-z]+$/.test(kind)) {
      problems.push(`${where(manifest)}: apiVersion and kind must be strings`);
      return;
    }
    virtual.set(join(ROOT, `__manifest_${i}.ts`), { text: source(apiVersion, kind, manifest.doc), manifest });
  });
  const host = ts.createCompilerHost(OPTIONS, true);
  const readFromDisk = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, language, onError) => {
    const v = virtual.get(fileName);
    if (v) return ts.createSourceFile(fileName, v.text, language, true);
    let sf = parsed.get(fileName);
    if (!sf) {
      sf = readFromDisk(fileName, language, onError);
      if (sf) parsed.set(fileName, sf);
    }
    return sf;
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => virtual.has(fileName) || fileExists(fileName);
  const readFile = host.readFile.bind(host);
  host.readFile = (fileName) => virtual.get(fileName)?.text ?? readFile(fileName);

  const program = ts.createProgram({ rootNames: [...virtual.keys()], options: OPTIONS, host });
  for (const d of [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]) problems.push(message(d));
  for (const [fileName, { manifest }] of virtual) {
    const sf = program.getSourceFile(fileName) as ts.SourceFile;
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
      problems.push(`${where(manifest)}: ${pathAt(sf, d.start ?? 0)}: ${message(d)}`);
    }
  }
  return problems;
}

/** apiVersion "batch/v1" -> kubernetes-types/batch/v1; "v1" -> core/v1; "rbac.authorization.k8s.io/v1" -> rbac/v1; keda.sh/v1alpha1 -> keda-types.ts; rabbitmq.com/v1beta1 -> rabbitmq-types.ts. */
function source(apiVersion: string, kind: string, doc: unknown): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion];
  // KEDA's and the RabbitMQ Cluster Operator's types are not in kubernetes-types: test/helpers/keda-types.ts
  // and rabbitmq-types.ts, written from their documented specs.
  const own: Record<string, string> = { 'keda.sh/v1alpha1': './test/helpers/keda-types.js', 'rabbitmq.com/v1beta1': './test/helpers/rabbitmq-types.js' };
  const module = own[apiVersion] ?? `kubernetes-types/${(group as string).split('.')[0]}/${version}`;
  return `import type { ${kind} as Kind } from ${JSON.stringify(module)};\nexport const manifest: Kind = ${JSON.stringify(doc, null, 2)};\n`;
}

function where(m: Manifest): string {
  const meta = (m.doc.metadata ?? {}) as { name?: string };
  return `${m.file.replace(ROOT, '')} document ${m.index + 1} (${String(m.doc.kind)} ${meta.name ?? '?'})`;
}

const message = (d: ts.Diagnostic) => ts.flattenDiagnosticMessageText(d.messageText, ' ');

/** The field path (spec.template.spec.containers[0].image) at a position in the generated source. */
function pathAt(sf: ts.SourceFile, pos: number): string {
  const statement = sf.statements.find(ts.isVariableStatement);
  const init = statement?.declarationList.declarations[0]?.initializer;
  if (!init || pos < init.getStart(sf)) return 'apiVersion/kind';
  const within = (n: ts.Node) => n.getStart(sf) <= pos && pos < n.getEnd();
  let path = '';
  let node: ts.Node = init;
  for (;;) {
    if (ts.isObjectLiteralExpression(node)) {
      const prop = node.properties.find(within);
      if (!prop || !ts.isPropertyAssignment(prop) || !ts.isStringLiteral(prop.name)) break;
      path += path ? `.${prop.name.text}` : prop.name.text;
      node = prop.initializer;
    } else if (ts.isArrayLiteralExpression(node)) {
      const i = node.elements.findIndex(within);
      if (i < 0) break;
      path += `[${i}]`;
      node = node.elements[i] as ts.Expression;
    } else {
      break;
    }
  }
  return path || '(the whole object)';
}

/** Problems with one object that should be a batch/v1 Job (e.g. what wq-publish --job rendered); [] when valid. */
export function jobProblems(job: unknown): string[] {
  const doc = job as Record<string, unknown>;
  if (doc?.apiVersion !== 'batch/v1' || doc?.kind !== 'Job') return [`not a batch/v1 Job: apiVersion ${String(doc?.apiVersion)}, kind ${String(doc?.kind)}`];
  return validateManifests([{ file: 'rendered Job', index: 0, doc }]);
}
