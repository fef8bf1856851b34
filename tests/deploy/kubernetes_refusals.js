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
const podOf = (objects) => workloadOf(objects).spec.template.spec;
// The journal named by the environment again: the shipped PostgreSQL manifest names it by --db-file.
const dropArgs = (objects) => { delete containerOf(objects).args; };
const fromSecret = (name, key) => ({ valueFrom: { secretKeyRef: { name, key } } });
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
  ["2 replicas, QUEUE_DB a file instead of the PostgreSQL Secret's", "postgresql",
   (o) => { dropArgs(o); setEnv(o, "QUEUE_DB", { value: "/data/gateway-queue.db" }); },
   /replicas must be 1 with a SQLite journal/],
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
   (o) => setEnv(o, "PGPASSWORD", { value: "hunter2" }), /PGPASSWORD must not be in the container's environment/],
  ["PGPASSWORD from a Secret in the environment", "postgresql",
   (o) => setEnv(o, "PGPASSWORD", fromSecret("gateway-queue-journal", "password")),
   /PGPASSWORD must not be in the container's environment/],
  ["PGPASSFILE on a file of the journal's Secret (libpq ignores a group-readable one)", "postgresql",
   (o) => { dropArgs(o); setEnv(o, "QUEUE_DB", { value: "postgresql://gq@db:5432/gq" });
            setEnv(o, "PGPASSFILE", { value: "/run/secrets/gateway-queue-journal/pgpass" }); },
   /PGPASSFILE .* is a Secret's file, which libpq ignores/],
  ["the journal's URI from a Secret in QUEUE_DB (secretKeyRef)", "postgresql",
   (o) => { dropArgs(o); setEnv(o, "QUEUE_DB", fromSecret("gateway-queue-journal", "uri")); },
   /QUEUE_DB from a Secret puts the URI in the environment/],
  ["QUEUE_DB_FILE instead of --db-file (the image sets QUEUE_DB)", "postgresql",
   (o) => { dropArgs(o); setEnv(o, "QUEUE_DB_FILE", { value: "/run/secrets/gateway-queue-journal/queue-db" }); },
   /QUEUE_DB_FILE stops the queue/],
  ["--db-file=PATH as one argument", "postgresql",
   (o) => { containerOf(o).args = ["--db-file=/run/secrets/gateway-queue-journal/queue-db"]; }, null],
  ["--db beside --db-file", "postgresql",
   (o) => containerOf(o).args.push("--db", "postgresql://gq@db:5432/gq"), /--db and --db-file both given/],
  ["--db-file outside the journal's Secret volume (its mount removed)", "postgresql",
   (o) => { const c = containerOf(o); c.volumeMounts = c.volumeMounts.filter((m) => m.name !== "journal-secrets"); },
   /--db-file \/run\/secrets\/gateway-queue-journal\/queue-db is in no mounted volume/],
  ["a password in a literal QUEUE_DB", "postgresql",
   (o) => { dropArgs(o); setEnv(o, "QUEUE_DB", { value: "postgresql://gq:hunter2@db:5432/gq" }); },
   /QUEUE_DB must not hold the password/],
  ["a password in --db", "postgresql",
   (o) => { containerOf(o).args = ["--db", "postgresql://gq:hunter2@db:5432/gq"]; }, /--db must not hold the password/],
  ["a literal postgresql:// QUEUE_DB without password, 2 replicas", "postgresql",
   (o) => { dropArgs(o); setEnv(o, "QUEUE_DB", { value: "postgresql://gq@db:5432/gq?sslmode=require" }); }, null],
  ["a literal postgresql:// QUEUE_DB, 2 replicas, no readinessProbe", "postgresql",
   (o) => { dropArgs(o); setEnv(o, "QUEUE_DB", { value: "postgres://gq@db/gq" }); delete containerOf(o).readinessProbe; },
   /with 2 replicas on a PostgreSQL journal, readinessProbe must be an httpGet of \/ready/],
  // The tokens: files of a Secret volume the queue's user can read, nowhere else.
  ["DISCORD_TOKEN from a Secret in the environment instead of the file", "sqlite",
   (o) => { setEnv(o, "DISCORD_TOKEN_FILE"); setEnv(o, "DISCORD_TOKEN", fromSecret("gateway-queue", "discord-token")); },
   /DISCORD_TOKEN must not be in the container's environment/],
  ["DISCORD_TOKEN as a literal beside the file", "postgresql",
   (o) => setEnv(o, "DISCORD_TOKEN", { value: "bot-token" }), /DISCORD_TOKEN must not be in the container's environment/],
  ["no token at all", "sqlite",
   (o) => setEnv(o, "DISCORD_TOKEN_FILE"), /DISCORD_TOKEN_FILE must name the token's file/],
  ["--discord-token on the command line", "sqlite",
   (o) => { containerOf(o).args = ["--discord-token", "bot-token"]; }, /--discord-token puts the token on the command line/],
  ["DISCORD_TOKEN_FILE taken from a Secret (valueFrom)", "sqlite",
   (o) => setEnv(o, "DISCORD_TOKEN_FILE", fromSecret("gateway-queue", "path")), /DISCORD_TOKEN_FILE must be a literal path/],
  ["DISCORD_TOKEN_FILE in the emptyDir at /tmp", "sqlite",
   (o) => setEnv(o, "DISCORD_TOKEN_FILE", { value: "/tmp/discord-token" }), /DISCORD_TOKEN_FILE \/tmp\/discord-token is in volume tmp, which is not a Secret's/],
  ["the Secret volume's items leave discord-token out", "postgresql",
   (o) => { podOf(o).volumes.find((v) => v.name === "secrets").secret.items = [{ key: "auth-token", path: "auth-token" }]; },
   /DISCORD_TOKEN_FILE .* is not among the files volume secrets projects/],
  ["the Secret mounted as a projected volume", "sqlite",
   (o) => { const v = podOf(o).volumes.find((x) => x.name === "secrets");
            v.projected = { defaultMode: v.secret.defaultMode, sources: [{ secret: { name: "gateway-queue" } }] };
            delete v.secret; }, null],
  ["no fsGroup: the 0440 Secret files are root's and unreadable to the queue", "postgresql",
   (o) => { delete podOf(o).securityContext.fsGroup; }, /mode 0440 and no pod fsGroup the queue's user cannot read them/],
  ["no fsGroup, Secret files 0444", "postgresql",
   (o) => { delete podOf(o).securityContext.fsGroup;
            for (const v of podOf(o).volumes) v.secret.defaultMode = 0o444; }, null],
  ["QUEUE_AUTH_TOKEN_FILE in the Secret volume (the commented-out lines)", "sqlite",
   (o) => setEnv(o, "QUEUE_AUTH_TOKEN_FILE", { value: "/run/secrets/gateway-queue/auth-token" }), null],
  ["QUEUE_AUTH_TOKEN from a Secret in the environment", "postgresql",
   (o) => setEnv(o, "QUEUE_AUTH_TOKEN", fromSecret("gateway-queue", "auth-token")),
   /QUEUE_AUTH_TOKEN must not be in the container's environment/],
  ["--auth-token on the command line", "postgresql",
   (o) => containerOf(o).args.push("--auth-token=bearer"), /--auth-token puts the token on the command line/],
  ["envFrom the Secret", "sqlite",
   (o) => { containerOf(o).envFrom = [{ secretRef: { name: "gateway-queue" } }]; },
   /envFrom Secret gateway-queue puts its keys in the environment/],
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
