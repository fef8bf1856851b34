// Proves that the manifest check refuses what would break the queue: each case changes one thing
// in the shipped manifests (still a valid API object, so the schema passes) and must be refused by
// the queue's needs with the expected message, or accepted where the change is harmless.
// usage: node kubernetes_refusals.js SQLITE_DIR POSTGRESQL_DIR
//   SQLITE_DIR: deploy/kubernetes (a StatefulSet of one, the journal a file)
//   POSTGRESQL_DIR: deploy/kubernetes-postgresql (a Deployment of two, the journal in PostgreSQL)
"use strict";

const { loadManifests, schemaProblems } = require("./check_kubernetes");
const { checkQueueNeeds } = require("./kubernetes_queue_needs");

const workloadOf = (objects) => objects.find((o) => o.kind === "StatefulSet" || o.kind === "Deployment");
const containerOf = (objects) => workloadOf(objects).spec.template.spec.containers[0];
const setEnv = (objects, name, entry) => {
  const c = containerOf(objects);
  c.env = c.env.filter((e) => e.name !== name);
  if (entry) c.env.push({ name, ...entry });
};
const budget = (spec) => ({
  apiVersion: "policy/v1",
  kind: "PodDisruptionBudget",
  metadata: { name: "gateway-queue" },
  spec: { selector: { matchLabels: { "app.kubernetes.io/name": "gateway-queue" } }, ...spec },
});

// expect: a pattern one problem must match, or null when the change must be accepted.
const cases = [
  ["2 replicas on a SQLite journal (the StatefulSet)", "sqlite",
   (o) => { workloadOf(o).spec.replicas = 2; }, /replicas must be 1 with a SQLite journal/],
  ["2 replicas, QUEUE_DB a file instead of the PostgreSQL Secret", "postgresql",
   (o) => setEnv(o, "QUEUE_DB", { value: "/data/gateway-queue.db" }), /replicas must be 1 with a SQLite journal/],
  ["2 replicas on PostgreSQL without a readinessProbe", "postgresql",
   (o) => { delete containerOf(o).readinessProbe; },
   /with 2 replicas on a PostgreSQL journal, readinessProbe must be an httpGet of \/ready/],
  ["2 replicas on PostgreSQL with readiness on /health (a standby would get shards)", "postgresql",
   (o) => { containerOf(o).readinessProbe.httpGet.path = "/health"; },
   /with 2 replicas on a PostgreSQL journal, readinessProbe must be an httpGet of \/ready/],
  ["2 replicas on PostgreSQL, readiness at the kubelet's default pace", "postgresql",
   (o) => { const p = containerOf(o).readinessProbe; delete p.periodSeconds; delete p.failureThreshold; },
   /must notice a takeover within 5 s, not 30 s/],
  ["2 replicas on PostgreSQL, a rollout that keeps one available (maxUnavailable 0)", "postgresql",
   (o) => { workloadOf(o).spec.strategy.rollingUpdate.maxUnavailable = 0; }, /keeps 2 available never ends/],
  ["2 replicas on PostgreSQL, the default rollout (25 %)", "postgresql",
   (o) => { delete workloadOf(o).spec.strategy; }, /keeps 2 available never ends/],
  ["2 replicas on PostgreSQL, Recreate", "postgresql",
   (o) => { workloadOf(o).spec.strategy = { type: "Recreate" }; }, null],
  ["2 replicas on PostgreSQL, both on one node allowed", "postgresql",
   (o) => { delete workloadOf(o).spec.template.spec.affinity; }, /podAntiAffinity on kubernetes.io\/hostname/],
  ["PGPASSWORD as a literal", "postgresql",
   (o) => setEnv(o, "PGPASSWORD", { value: "hunter2" }), /PGPASSWORD must come from a Secret/],
  ["a password in a literal QUEUE_DB", "postgresql",
   (o) => setEnv(o, "QUEUE_DB", { value: "postgresql://gq:hunter2@db:5432/gq" }), /QUEUE_DB must not hold the password/],
  ["a literal postgresql:// QUEUE_DB without password, 2 replicas", "postgresql",
   (o) => setEnv(o, "QUEUE_DB", { value: "postgresql://gq@db:5432/gq?sslmode=require" }), null],
  ["a literal postgresql:// QUEUE_DB, 2 replicas, no readinessProbe", "postgresql",
   (o) => { setEnv(o, "QUEUE_DB", { value: "postgres://gq@db/gq" }); delete containerOf(o).readinessProbe; },
   /with 2 replicas on a PostgreSQL journal, readinessProbe must be an httpGet of \/ready/],
  ["a PodDisruptionBudget minAvailable 1 on PostgreSQL", "postgresql",
   (o) => o.push(budget({ minAvailable: 1 })), /PodDisruptionBudget gateway-queue keeps 1 .* block node drains/],
  ["a PodDisruptionBudget maxUnavailable 1 on PostgreSQL", "postgresql",
   (o) => o.push(budget({ maxUnavailable: 1 })), /PodDisruptionBudget gateway-queue keeps 1 .* block node drains/],
  ["a PodDisruptionBudget minAvailable 1 on SQLite", "sqlite",
   (o) => o.push(budget({ minAvailable: 1 })), /PodDisruptionBudget gateway-queue keeps 1 .* block node drains/],
];

function main() {
  const bases = { sqlite: loadManifests(process.argv[2]), postgresql: loadManifests(process.argv[3]) };
  let failed = 0;
  const fail = (message) => {
    failed++;
    console.log(`FAIL: ${message}`);
  };
  for (const [name, { kustomization, objects, problems }] of Object.entries(bases)) {
    const all = [...problems, ...checkQueueNeeds(objects.map((e) => e.object), kustomization)];
    if (all.length > 0) fail(`the ${name} manifests as shipped: ${all.join("; ")}`);
  }
  for (const [name, base, mutate, expect] of cases) {
    const { kustomization, objects } = bases[base];
    const changed = structuredClone(objects.map((e) => e.object));
    mutate(changed);
    // The change must still be a valid API object: the refusal has to come from the queue's needs.
    const invalid = changed.flatMap((object) => schemaProblems({ file: "(changed)", object }));
    if (invalid.length > 0) {
      fail(`${name}: the changed manifests are not valid API objects: ${invalid.join("; ")}`);
      continue;
    }
    const problems = checkQueueNeeds(changed, kustomization);
    if (expect === null) {
      if (problems.length > 0) fail(`${name}: should be accepted, refused: ${problems.join("; ")}`);
      else console.log(`ok: ${name}: accepted`);
    } else {
      const hit = problems.find((p) => expect.test(p));
      if (!hit) fail(`${name}: should be refused (${expect}), problems: ${problems.join("; ") || "none"}`);
      else console.log(`ok: ${name}: refused: ${hit}`);
    }
  }
  if (failed > 0) process.exit(1);
  console.log(`${cases.length} changes refused or accepted as they should be`);
}

main();
