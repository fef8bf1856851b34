// What gateway-queue needs from its Kubernetes manifests beyond being valid API objects: the
// mistakes a schema cannot see (a probe on the wrong port, the journal outside the volume, two
// replicas pacing separately). Returns one message per problem.
"use strict";

const posix = require("path").posix;

function checkQueueNeeds(objects, kustomization) {
  const problems = [];
  const need = (ok, message) => {
    if (!ok) problems.push(message);
  };
  const sets = objects.filter((o) => o.kind === "StatefulSet");
  need(sets.length === 1, `want exactly one StatefulSet, found ${sets.length}`);
  if (sets.length !== 1) return problems;
  const set = sets[0];
  const spec = set.spec || {};
  const labels = (spec.template && spec.template.metadata && spec.template.metadata.labels) || {};
  const pod = (spec.template && spec.template.spec) || {};
  const selects = (selector) =>
    !!selector && Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels[k] === v);

  // Two queues would each pace on their own: twice the identify rate Discord allows.
  need(spec.replicas === 1, `StatefulSet replicas must be 1, not ${spec.replicas}`);
  need(selects(spec.selector && spec.selector.matchLabels) && !spec.selector.matchExpressions,
       "StatefulSet selector.matchLabels must select the pod template's labels");
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

  const token = env.get("DISCORD_TOKEN");
  need(!!token && token.value === undefined && !!token.valueFrom && !!token.valueFrom.secretKeyRef &&
       !!token.valueFrom.secretKeyRef.name && !!token.valueFrom.secretKeyRef.key,
       "DISCORD_TOKEN must come from a Secret (valueFrom.secretKeyRef), never a literal value");
  for (const o of objects) {
    need(!(o.kind === "Secret" && (o.data || o.stringData)), `Secret ${o.metadata.name} holds values: keep tokens out of the repository`);
  }

  // The journal must live on the claimed volume, or every restart forgets the pacing.
  const db = value("QUEUE_DB") || "";
  const mount = (c.volumeMounts || []).find((m) => m.mountPath === posix.dirname(db));
  const claims = (spec.volumeClaimTemplates || []).map((t) => t.metadata && t.metadata.name);
  need(posix.isAbsolute(db), `QUEUE_DB must be an absolute path, not "${db}"`);
  need(!!mount && claims.includes(mount.name),
       `QUEUE_DB ${db} must be in a directory mounted from a volumeClaimTemplate (${claims.join(", ")})`);
  const claim = (spec.volumeClaimTemplates || []).find((t) => mount && t.metadata.name === mount.name);
  need(!!claim && claim.spec && claim.spec.resources && claim.spec.resources.requests &&
       !!claim.spec.resources.requests.storage, "the journal's claim must request storage");
  const volumes = new Set([...claims, ...(pod.volumes || []).map((v) => v.name)]);
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
  need(Number.isInteger(ps.fsGroup), "pod securityContext.fsGroup must be set so the journal volume is writable");
  const seccomp = cs.seccompProfile || ps.seccompProfile;
  need(!!seccomp && seccomp.type === "RuntimeDefault", "seccompProfile must be RuntimeDefault");
  need(cs.allowPrivilegeEscalation === false, "allowPrivilegeEscalation must be false");
  need(cs.privileged !== true, "the container must not be privileged");
  need(cs.readOnlyRootFilesystem === true, "readOnlyRootFilesystem must be true");
  need(!!cs.capabilities && (cs.capabilities.drop || []).includes("ALL") && !(cs.capabilities.add || []).length,
       "capabilities must drop ALL and add none");
  if (cs.readOnlyRootFilesystem === true) {
    need((c.volumeMounts || []).some((m) => m.mountPath === "/tmp"),
         "with a read-only root, mount a volume at /tmp for SQLite's temporary files");
  }

  // Services: one the shards call, and the StatefulSet's headless governing one.
  const services = objects.filter((o) => o.kind === "Service");
  const servesQueue = (s) => selects(s.spec && s.spec.selector) &&
    (s.spec.ports || []).some((p) => reaches(p.targetPort !== undefined ? p.targetPort : p.port));
  need(services.some((s) => servesQueue(s) && s.spec.clusterIP !== "None"),
       "no Service selects the pod and reaches the queue's port");
  const governing = services.find((s) => s.metadata.name === spec.serviceName);
  need(!!governing && governing.spec.clusterIP === "None" && servesQueue(governing),
       `serviceName ${spec.serviceName} must name a headless Service of the pod`);

  // A kustomize image override whose name matches no container changes nothing, silently.
  const images = new Set(containers.map((x) => (x.image || "").replace(/[:@].*$/, "")));
  for (const i of (kustomization && kustomization.images) || []) {
    need(images.has(i.name), `kustomization images: ${i.name} matches no container image`);
  }
  return problems;
}

module.exports = { checkQueueNeeds };
