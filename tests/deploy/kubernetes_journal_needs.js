// What the journal's backend decides about a Kubernetes deployment of the queue:
//  - a SQLite journal (QUEUE_DB a file) allows exactly one queue: two would each pace on their
//    own, twice the identify rate Discord allows, and the file's lock does not reach across
//    nodes. So: a StatefulSet of one replica, the file on a claimed volume.
//  - a PostgreSQL journal (QUEUE_DB or --db a postgresql:// URI, or --db-file) allows more: one
//    queue holds the journal's lock and is active, the others stand by. Then only /ready tells the
//    Service which pod is the active one, so more than one replica needs a readinessProbe on
//    /ready, probed often enough to follow a takeover within seconds, pods spread over nodes, and
//    a rollout that does not wait for a second ready pod (there never is one).
// Either way at most one pod is ever ready, so a PodDisruptionBudget that keeps one available
// would refuse every eviction of the queue's pod and block node drains forever.
"use strict";

const posix = require("path").posix;
const { flagsOf } = require("./kubernetes_secret_needs");

const isPostgresUri = (s) => /^postgres(ql)?:\/\//.test(s);

// The journal the container names: { backend: "sqlite" | "postgresql", value }, value undefined
// when it is read from a file or a Secret. As in the queue, --db-file or --db beats the
// environment (QUEUE_DB_FILE, QUEUE_DB). A journal from a file or a Secret is taken for a URI: a
// file path is no secret, a connection string may be (kubernetes_secret_needs.js says which of
// these forms are allowed).
function journalOf(env, c) {
  const flags = flagsOf(c);
  const db = env.get("QUEUE_DB");
  if (flags["--db-file"] !== undefined ||
      (flags["--db"] === undefined && (env.has("QUEUE_DB_FILE") || (db && db.value === undefined && db.valueFrom)))) {
    return { backend: "postgresql", value: undefined };
  }
  const value = flags["--db"] !== undefined ? flags["--db"]
    : db && db.value !== undefined ? String(db.value) : "gateway-queue.db";
  return { backend: isPostgresUri(value) ? "postgresql" : "sqlite", value };
}

// An intOrString field (2, "50%") against a total, rounded as the controllers round it.
function scaled(field, total, roundUp) {
  if (field === undefined || field === null) return undefined;
  if (typeof field === "number") return field;
  const m = /^(\d+)%$/.exec(String(field));
  if (!m) return Number(field);
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

function checkSqliteJournal(ctx) {
  const { workload, spec, pod, c, journal, services, need } = ctx;
  need(spec.replicas === 1,
       `${workload.kind} replicas must be 1 with a SQLite journal (QUEUE_DB ${journal.value}), not ` +
       `${spec.replicas}: two queues would each pace on their own (a PostgreSQL journal allows a standby)`);
  need(workload.kind === "StatefulSet",
       `a SQLite journal needs a StatefulSet (its volume claim follows the pod), not a ${workload.kind}`);

  // The journal must live on the claimed volume, or every restart forgets the pacing.
  const db = journal.value;
  const mount = (c.volumeMounts || []).find((m) => m.mountPath === posix.dirname(db));
  const claims = (spec.volumeClaimTemplates || []).map((t) => t.metadata && t.metadata.name);
  need(posix.isAbsolute(db), `QUEUE_DB must be an absolute path, not "${db}"`);
  need(!!mount && claims.includes(mount.name),
       `QUEUE_DB ${db} must be in a directory mounted from a volumeClaimTemplate (${claims.join(", ")})`);
  const claim = (spec.volumeClaimTemplates || []).find((t) => mount && t.metadata.name === mount.name);
  need(!!claim && claim.spec && claim.spec.resources && claim.spec.resources.requests &&
       !!claim.spec.resources.requests.storage, "the journal's claim must request storage");
  need(Number.isInteger((pod.securityContext || {}).fsGroup),
       "pod securityContext.fsGroup must be set so the journal volume is writable");
  if ((c.securityContext || {}).readOnlyRootFilesystem === true) {
    need((c.volumeMounts || []).some((m) => m.mountPath === "/tmp"),
         "with a read-only root, mount a volume at /tmp for SQLite's temporary files");
  }
  const governing = services.find((s) => s.metadata.name === spec.serviceName);
  need(!!governing && governing.spec.clusterIP === "None" && ctx.servesQueue(governing),
       `serviceName ${spec.serviceName} must name a headless Service of the pod`);
}

function checkPostgresJournal(ctx) {
  // Where the password may come from (a file, never QUEUE_DB, --db or PGPASSWORD):
  // kubernetes_secret_needs.js.
  const { workload, spec, pod, c, need } = ctx;
  const replicas = spec.replicas === undefined ? 1 : spec.replicas;
  need(Number.isInteger(replicas) && replicas >= 1, `${workload.kind} replicas must be 1 or more, not ${replicas}`);
  if (workload.kind === "StatefulSet") {
    const claims = spec.volumeClaimTemplates || [];
    need(claims.length === 0, "a PostgreSQL journal needs no volume claim: use a Deployment");
  }
  if (!(replicas > 1)) return;

  const where = `with ${replicas} replicas on a PostgreSQL journal`;
  const ready = c.readinessProbe;
  const get = ready && ready.httpGet;
  need(!!get && get.path === "/ready",
       `${where}, readinessProbe must be an httpGet of /ready: it is what sends shards to the active queue only`);
  if (get) {
    // The kubelet's defaults (10 s, 3 failures) would leave shards on a standby for 30 s.
    const seconds = (ready.periodSeconds || 10) * Math.max(ready.failureThreshold || 3, ready.successThreshold || 1);
    need(seconds <= 5, `${where}, the readinessProbe must notice a takeover within 5 s, not ${seconds} s ` +
         "(periodSeconds times failureThreshold)");
  }
  need(workload.kind === "Deployment",
       `${where}, use a Deployment: a StatefulSet's rollout waits for each pod to be ready, and a standby never is`);
  if (workload.kind === "Deployment") {
    // The Deployment keeps replicas - maxUnavailable pods available through a rollout; with one
    // ready pod at most, anything above 0 stalls it for good.
    const strategy = spec.strategy || {};
    const rolling = strategy.rollingUpdate || {};
    const maxUnavailable = strategy.type === "Recreate" ? replicas
      : scaled(rolling.maxUnavailable === undefined ? "25%" : rolling.maxUnavailable, replicas, false);
    need(maxUnavailable >= replicas,
         `${where}, the Deployment strategy must be Recreate or a RollingUpdate with maxUnavailable ` +
         `${replicas} (or "100%"): only the active pod is ever ready, so a rollout that keeps ` +
         `${replicas - maxUnavailable} available never ends`);
  }
  const anti = ((pod.affinity || {}).podAntiAffinity) || {};
  const terms = [...(anti.requiredDuringSchedulingIgnoredDuringExecution || []),
                 ...(anti.preferredDuringSchedulingIgnoredDuringExecution || []).map((t) => t.podAffinityTerm || {})];
  need(terms.some((t) => t.topologyKey === "kubernetes.io/hostname" && t.labelSelector &&
                         ctx.selects(t.labelSelector.matchLabels) && !t.labelSelector.matchExpressions),
       `${where}, a podAntiAffinity on kubernetes.io/hostname must keep the pods on different nodes`);
}

// At most one of the queue's pods is ready at any time, so a budget that wants one left healthy
// allows no eviction at all.
function checkDisruptionBudgets(ctx) {
  const { objects, spec, need } = ctx;
  const replicas = spec.replicas === undefined ? 1 : spec.replicas;
  for (const b of objects.filter((o) => o.kind === "PodDisruptionBudget")) {
    const s = b.spec || {};
    if (!ctx.selects(s.selector && s.selector.matchLabels)) continue;
    const keep = s.minAvailable !== undefined ? scaled(s.minAvailable, replicas, true)
      : replicas - scaled(s.maxUnavailable, replicas, true);
    need(!(keep >= 1), `PodDisruptionBudget ${b.metadata.name} keeps ${keep} of the queue's pods ` +
         "available, but only one is ever ready: it would refuse every eviction and block node drains");
  }
}

function checkJournalNeeds(ctx) {
  if (ctx.journal.backend === "sqlite") checkSqliteJournal(ctx);
  else checkPostgresJournal(ctx);
  checkDisruptionBudgets(ctx);
}

module.exports = { checkJournalNeeds, journalOf };
