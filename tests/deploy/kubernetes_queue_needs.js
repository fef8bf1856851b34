// What gateway-queue needs from its Kubernetes manifests beyond being valid API objects: the
// mistakes a schema cannot see (a probe on the wrong port, a token in the environment, a Service
// that misses the pod). What the journal's backend decides (how many replicas, where the journal
// lives, how a rollout may proceed) is in kubernetes_journal_needs.js; how secrets reach the queue
// (as files of Secret volumes) in kubernetes_secret_needs.js. Returns one message per problem.
"use strict";

const { checkJournalNeeds, journalOf } = require("./kubernetes_journal_needs");
const { checkSecretNeeds } = require("./kubernetes_secret_needs");

function checkQueueNeeds(objects, kustomization) {
  const problems = [];
  const need = (ok, message) => {
    if (!ok) problems.push(message);
  };
  const workloads = objects.filter((o) => o.kind === "StatefulSet" || o.kind === "Deployment");
  need(workloads.length === 1, `want exactly one StatefulSet or Deployment, found ${workloads.length}`);
  if (workloads.length !== 1) return problems;
  const workload = workloads[0];
  const kind = workload.kind;
  const spec = workload.spec || {};
  const labels = (spec.template && spec.template.metadata && spec.template.metadata.labels) || {};
  const pod = (spec.template && spec.template.spec) || {};
  const selects = (selector) =>
    !!selector && Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels[k] === v);

  need(selects(spec.selector && spec.selector.matchLabels) && !spec.selector.matchExpressions,
       `${kind} selector.matchLabels must select the pod template's labels`);
  need(Number.isInteger(pod.terminationGracePeriodSeconds) && pod.terminationGracePeriodSeconds >= 10,
       "pod terminationGracePeriodSeconds must be set (>= 10 s) so waiters get their 503");

  const containers = pod.containers || [];
  need(containers.length === 1, `want one container, found ${containers.length}`);
  if (containers.length !== 1) return problems;
  const c = containers[0];
  const env = new Map((c.env || []).map((e) => [e.name, e]));
  const value = (name) => env.has(name) ? env.get(name).value : undefined;

  // Ports: PORT, the container port, probes and Services must agree.
  const port = Number(value("PORT") || 5000);
  const containerPort = (c.ports || []).find((p) => p.containerPort === port);
  need(!!containerPort, `no container port ${port} (the PORT the queue listens on)`);
  const reaches = (target) => !!containerPort &&
    (target === containerPort.containerPort || (!!containerPort.name && target === containerPort.name));
  need(value("HOST") === "0.0.0.0", "HOST must be 0.0.0.0: the default 127.0.0.1 is unreachable from the Service");

  for (const [probe, wanted] of [["livenessProbe", "/health"], ["readinessProbe", "/ready"]]) {
    const get = c[probe] && c[probe].httpGet;
    need(!!get && get.path === wanted, `${probe} must be an httpGet of ${wanted}`);
    if (get) need(reaches(get.port), `${probe} port ${get.port} is not the queue's port ${port}`);
  }

  checkSecretNeeds({ c, pod, env, need });
  for (const o of objects) {
    need(!(o.kind === "Secret" && (o.data || o.stringData)), `Secret ${o.metadata.name} holds values: keep tokens out of the repository`);
  }

  const volumes = new Set([...(spec.volumeClaimTemplates || []).map((t) => t.metadata && t.metadata.name),
                           ...(pod.volumes || []).map((v) => v.name)]);
  for (const m of c.volumeMounts || []) need(volumes.has(m.name), `volumeMount ${m.name} has no volume`);

  const r = c.resources || {};
  need(!!(r.requests && r.requests.cpu && r.requests.memory), "resources.requests must set cpu and memory");
  need(!!(r.limits && r.limits.memory), "resources.limits must set memory");

  // Locked down: non-root, no privilege, read-only root, no capabilities, default seccomp.
  const ps = pod.securityContext || {};
  const cs = c.securityContext || {};
  // The container's setting wins over the pod's; neither may say false.
  need((cs.runAsNonRoot !== undefined ? cs.runAsNonRoot : ps.runAsNonRoot) === true &&
       ps.runAsNonRoot !== false, "runAsNonRoot must be true");
  const uid = cs.runAsUser !== undefined ? cs.runAsUser : ps.runAsUser;
  need(Number.isInteger(uid) && uid > 0, "runAsUser must be a non-zero uid");
  const seccomp = cs.seccompProfile || ps.seccompProfile;
  need(!!seccomp && seccomp.type === "RuntimeDefault", "seccompProfile must be RuntimeDefault");
  need(cs.allowPrivilegeEscalation === false, "allowPrivilegeEscalation must be false");
  need(cs.privileged !== true, "the container must not be privileged");
  need(cs.readOnlyRootFilesystem === true, "readOnlyRootFilesystem must be true");
  need(!!cs.capabilities && (cs.capabilities.drop || []).includes("ALL") && !(cs.capabilities.add || []).length,
       "capabilities must drop ALL and add none");

  // The Service the shards call (a StatefulSet's headless governing one is the journal's rule).
  const services = objects.filter((o) => o.kind === "Service");
  const servesQueue = (s) => selects(s.spec && s.spec.selector) &&
    (s.spec.ports || []).some((p) => reaches(p.targetPort !== undefined ? p.targetPort : p.port));
  need(services.some((s) => servesQueue(s) && s.spec.clusterIP !== "None"),
       "no Service selects the pod and reaches the queue's port");

  checkJournalNeeds({ workload, spec, pod, c, env, journal: journalOf(env, c), objects, services,
                      selects, servesQueue, need });

  // A kustomize image override whose name matches no container changes nothing, silently.
  const images = new Set(containers.map((x) => (x.image || "").replace(/[:@].*$/, "")));
  for (const i of (kustomization && kustomization.images) || []) {
    need(images.has(i.name), `kustomization images: ${i.name} matches no container image`);
  }
  return problems;
}

module.exports = { checkQueueNeeds };
