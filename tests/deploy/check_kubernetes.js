// Checks deploy/kubernetes offline, in three passes:
//  1. schema: every manifest against the Kubernetes API's OpenAPI schemas as the npm package
//     kubernetes-models ships them (types, required fields, enums, formats);
//  2. strict: no field the API does not know (a misspelt `livenesProbe` would otherwise pass
//     and be dropped by the API server). The schemas above allow unknown fields, so the known
//     ones are read from the same package's type declarations;
//  3. the queue's own needs: probes on /health and /ready at the container's port, a non-root
//     locked-down pod, resources set, the secrets as files of Secret volumes (never in the
//     environment or on the command line), the kustomization naming every manifest, and what the
//     journal allows: one replica with its file on the claimed volume (SQLite), or a standby
//     behind a readiness probe on /ready (PostgreSQL).
// usage: node check_kubernetes.js DIR   (DIR holds kustomization.yaml and the manifests)
// kubernetes_refusals.js proves that pass 3 refuses what it should.
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");
const { checkUnknownFields } = require("./kubernetes_fields");
const { checkQueueNeeds } = require("./kubernetes_queue_needs");

// Read as YAML 1.1, as kubectl reads them: there `defaultMode: 0440` is octal (288), where YAML 1.2
// would make it decimal 440 and the check would judge file modes the cluster never sets.
const yamlOptions = { version: "1.1" };

function loadManifests(dir) {
  const kustomization = YAML.parse(fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8"), yamlOptions);
  const problems = [];
  if (kustomization.kind !== "Kustomization" ||
      !/^kustomize\.config\.k8s\.io\/v1(beta1)?$/.test(kustomization.apiVersion)) {
    problems.push("kustomization.yaml: not a kustomize.config.k8s.io Kustomization");
  }
  const listed = kustomization.resources || [];
  const present = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml");
  for (const file of present) {
    if (!listed.includes(file)) problems.push(`kustomization.yaml: ${file} is not in resources`);
  }
  const objects = [];
  for (const file of listed) {
    const full = path.join(dir, file);
    if (!fs.existsSync(full)) {
      problems.push(`kustomization.yaml: resource ${file} does not exist`);
      continue;
    }
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(full, "utf8"), yamlOptions)) {
      for (const e of [...doc.errors, ...doc.warnings]) problems.push(`${file}: ${e.message}`);
      const object = doc.toJS();
      if (object !== null) objects.push({ file, object });
    }
  }
  return { kustomization, objects, problems };
}

function schemaProblems({ file, object }) {
  const where = `${file}: ${object.kind} ${object.metadata && object.metadata.name}`;
  let Model;
  try {
    Model = require(`kubernetes-models/${object.apiVersion}/${object.kind}`)[object.kind];
  } catch (e) {
    return [`${where}: no such kind in the Kubernetes API (${object.apiVersion} ${object.kind})`];
  }
  try {
    new Model(object).validate();
  } catch (e) {
    return [`${where}: ${e.message}`];
  }
  return checkUnknownFields(object).map((p) => `${where}: ${p}`);
}

// Every problem of the manifests in dir, and the objects read.
function checkDirectory(dir) {
  const { kustomization, objects, problems } = loadManifests(dir);
  for (const entry of objects) problems.push(...schemaProblems(entry));
  problems.push(...checkQueueNeeds(objects.map((e) => e.object), kustomization));
  return { kustomization, objects, problems };
}

function main() {
  const { objects, problems } = checkDirectory(process.argv[2]);
  if (problems.length > 0) {
    for (const p of problems) console.log(`FAIL: ${p}`);
    process.exit(1);
  }
  const kinds = objects.map((e) => `${e.object.kind}/${e.object.metadata.name}`).join(", ");
  console.log(`${objects.length} objects valid against the Kubernetes schemas, strict, and fit ` +
              `for the queue: ${kinds}`);
}

module.exports = { loadManifests, schemaProblems, checkDirectory };
if (require.main === module) main();
