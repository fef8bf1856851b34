// Finds fields the Kubernetes API does not know, as `kubeconform -strict` does. The schemas that
// kubernetes-models validates with accept any extra field, so the fields each type has are read
// from the package's TypeScript declarations, generated from the same OpenAPI document:
//   export interface IProbe { "exec"?: IIoK8sApiCoreV1ExecAction; ... }
//   export { IProbe as IIoK8sApiCoreV1Probe, ... };
"use strict";

const fs = require("fs");
const path = require("path");

function packageDir(name, from) {
  return path.dirname(require.resolve(`${name}/package.json`, { paths: [from] }));
}

const modelsDir = packageDir("kubernetes-models", __dirname);
const roots = [modelsDir, packageDir("@kubernetes-models/apimachinery", modelsDir)];

function declarationFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== "_schemas" && entry.name !== "node_modules") {
      out.push(...declarationFiles(full));
    } else if (entry.name.endsWith(".d.ts") && entry.name !== "index.d.ts") {
      out.push(full);
    }
  }
  return out;
}

// Exported name (IIoK8sApiCoreV1Probe) -> { file, local: "IProbe" }, for every declaration file.
let exportsIndex = null;
function exportedTypes() {
  if (exportsIndex) return exportsIndex;
  exportsIndex = new Map();
  for (const file of roots.flatMap(declarationFiles)) {
    const text = fs.readFileSync(file, "utf8");
    for (const m of text.matchAll(/^export \{([^}]*)\};$/gm)) {
      for (const pair of m[1].matchAll(/(\w+) as (\w+)/g)) {
        exportsIndex.set(pair[2], { file, local: pair[1] });
      }
    }
  }
  return exportsIndex;
}

// The declarations' type syntax, parsed into a small tree: { fields: Map } for an object,
// { ref } for a named type, { array }, { map } (index signature), { leaf } for anything else
// (primitives, literals, unions).
function tokenize(text) {
  const tokens = [];
  const re = /\s+|\/\*[\s\S]*?\*\/|\/\/[^\n]*|("(?:[^"\\]|\\.)*"|[A-Za-z_$][\w$]*|-?\d+(?:\.\d+)?|[{}<>\[\]:;?|,()=.])/gy;
  let m;
  while (re.lastIndex < text.length && (m = re.exec(text)) !== null) {
    if (m[1] !== undefined) tokens.push(m[1]);
  }
  return tokens;
}

class TypeParser {
  constructor(tokens) {
    this.tokens = tokens;
    this.at = 0;
  }
  peek(offset = 0) {
    return this.tokens[this.at + offset];
  }
  take(expected) {
    const token = this.tokens[this.at++];
    if (expected !== undefined && token !== expected) {
      throw new Error(`expected ${expected}, found ${token}`);
    }
    return token;
  }
  // After "{": an index signature ({ [key: string]: T }) or properties ("name"?: T;).
  objectBody() {
    if (this.peek() === "[") {
      this.take("[");
      this.take();
      this.take(":");
      this.take();
      this.take("]");
      this.take(":");
      const map = this.type();
      if (this.peek() === ";") this.take();
      this.take("}");
      return { map };
    }
    const fields = new Map();
    while (this.peek() !== "}") {
      const name = this.take().replace(/^"|"$/g, "");
      if (this.peek() === "?") this.take();
      this.take(":");
      fields.set(name, this.type());
      if (this.peek() === ";" || this.peek() === ",") this.take();
    }
    this.take("}");
    return { fields };
  }
  type() {
    const parts = [this.primary()];
    while (this.peek() === "|") {
      this.take();
      parts.push(this.primary());
    }
    return parts.length === 1 ? parts[0] : { leaf: "union" };
  }
  primary() {
    let result;
    const token = this.take();
    if (token === "{") {
      result = this.objectBody();
    } else if (token === "(") {
      result = this.type();
      this.take(")");
    } else if (token === "Array" && this.peek() === "<") {
      this.take("<");
      result = { array: this.type() };
      this.take(">");
    } else if (/^I[A-Z]\w*$/.test(token) && this.peek() !== "[") {
      result = { ref: token };
    } else {
      result = { leaf: token };
      if (this.peek() === "[" && this.peek(1) !== "]") {  // IStatefulSet["apiVersion"]
        this.take("[");
        this.take();
        this.take("]");
      }
    }
    while (this.peek() === "[" && this.peek(1) === "]") {  // T[]
      this.take("[");
      this.take("]");
      result = { array: result };
    }
    return result;
  }
}

// Field name -> type tree of an interface, or null when the name is a plain type alias
// (Quantity, IntOrString, Time: strings or numbers, nothing to walk into).
const interfaces = new Map();
function fieldsOf(file, local) {
  const key = `${file}#${local}`;
  if (interfaces.has(key)) return interfaces.get(key);
  const text = fs.readFileSync(file, "utf8");
  const start = new RegExp(`^export interface ${local}\\b[^{]*\\{`, "m").exec(text);
  let fields = null;
  if (start) {
    const parser = new TypeParser(tokenize(text.slice(start.index + start[0].length)));
    fields = parser.objectBody().fields;
  }
  interfaces.set(key, fields);
  return fields;
}

function walk(value, type, where, problems) {
  if (value === null || value === undefined) return;
  if (type.array) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, type.array, `${where}[${i}]`, problems));
  } else if (type.map) {
    if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, type.map, `${where}.${k}`, problems);
    }
  } else if (type.fields || type.ref) {
    let fields = type.fields;
    if (!fields) {
      const target = exportedTypes().get(type.ref);
      if (!target) {
        problems.push(`${where}: type ${type.ref} not found in kubernetes-models`);
        return;
      }
      fields = fieldsOf(target.file, target.local);
    }
    if (!fields || typeof value !== "object" || Array.isArray(value)) return;
    for (const [k, v] of Object.entries(value)) {
      const field = fields.get(k);
      if (!field) problems.push(`${where ? `${where}.` : ""}${k}: unknown field`);
      else walk(v, field, where ? `${where}.${k}` : k, problems);
    }
  }
}

// Unknown fields of one object (apiVersion and kind known to kubernetes-models), as paths.
function checkUnknownFields(object) {
  const file = path.join(modelsDir, object.apiVersion, `${object.kind}.d.ts`);
  const fields = fieldsOf(file, `I${object.kind}`);
  if (!fields) return [`no declaration of ${object.apiVersion} ${object.kind} in kubernetes-models`];
  const problems = [];
  walk(object, { fields }, "", problems);
  return problems;
}

module.exports = { checkUnknownFields };
