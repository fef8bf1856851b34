// How the queue's secrets reach it in Kubernetes: each as a file of a Secret volume, named by
// DISCORD_TOKEN_FILE, QUEUE_AUTH_TOKEN_FILE or --db-file.
//  - Never in the environment: a variable, literal or from a Secret, is in /proc/PID/environ, in
//    the node runtime's `crictl inspect` and in every child's environment (a literal one in
//    `kubectl describe` too). envFrom a Secret does the same for all its keys.
//  - Never on the command line: `ps` shows it to every user of the node.
//  - The file must be there when the queue starts, or it stops (exit 2): in a mounted Secret
//    volume, under a key the volume projects, readable by the pod's non-root user. A Secret's
//    files are root's, so that user reads them through the pod's fsGroup (the kubelet gives the
//    files that group) or through a mode that lets others read.
//  - The journal's file is named by --db-file, not QUEUE_DB_FILE: the image sets QUEUE_DB, and the
//    queue refuses a value and its file both in the environment (a flag wins over it).
//  - libpq ignores a password file (PGPASSFILE) that its group or others may read, which is the
//    only way the queue's user reads a Secret's file: the password goes in the URI's file.
// Returns nothing; each problem goes to ctx.need.
"use strict";

const posix = require("path").posix;

// The queue's command-line flags in the container, { "--db-file": "/run/...", ... }; the last of a
// repeated flag wins, as in the queue. The image's entrypoint is the queue, so `args` are its
// arguments; a `command` replaces the entrypoint, its first word being the program.
function flagsOf(c) {
  const words = [...(c.command || []).slice(1), ...(c.args || [])].map(String);
  const flags = {};
  for (let i = 0; i < words.length; i++) {
    const m = /^(--[a-z][a-z-]*)(?:=([\s\S]*))?$/.exec(words[i]);
    if (!m) continue;
    if (m[2] !== undefined) flags[m[1]] = m[2];
    else if (i + 1 < words.length && !words[i + 1].startsWith("--")) flags[m[1]] = words[++i];
    else flags[m[1]] = "";
  }
  return flags;
}

// The secrets given as a value or as a file, and the flags of each.
const TOKENS = [
  { name: "DISCORD_TOKEN", flag: "--discord-token", fileFlag: "--discord-token-file", required: true },
  { name: "QUEUE_AUTH_TOKEN", flag: "--auth-token", fileFlag: "--auth-token-file", required: false },
];

const hasPassword = (uri) => /^[^/]*\/\/[^/@]*:[^/@]*@|[?&]password=/.test(uri);
const octal = (mode) => "0" + mode.toString(8);

// The Secret file a path in the container is, { secret, key, mode }, or { problem }.
function secretFileOf(path, c, pod) {
  if (!posix.isAbsolute(path)) return { problem: "is not an absolute path" };
  const inside = (m) => path.startsWith(m.mountPath.replace(/\/+$/, "") + "/");
  const mount = (c.volumeMounts || []).filter(inside)
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return { problem: "is in no mounted volume" };
  const volume = (pod.volumes || []).find((v) => v.name === mount.name);
  if (!volume) return { problem: `is in volume ${mount.name}, which does not exist` };
  const rest = path.slice(mount.mountPath.replace(/\/+$/, "").length + 1);
  const file = mount.subPath ? posix.join(mount.subPath, rest) : rest;
  let sources = [];
  let defaultMode;
  if (volume.secret) {
    sources = [volume.secret];
    defaultMode = volume.secret.defaultMode;
  } else if (volume.projected) {
    sources = (volume.projected.sources || []).filter((s) => s.secret)
      .map((s) => ({ secretName: s.secret.name, ...s.secret }));
    defaultMode = volume.projected.defaultMode;
  }
  if (sources.length === 0) return { problem: `is in volume ${volume.name}, which is not a Secret's` };
  // The API's default mode for a Secret's files.
  const mode = (m) => (m !== undefined ? m : defaultMode !== undefined ? defaultMode : 0o644);
  for (const s of sources) {
    if (s.items) {
      const item = s.items.find((i) => posix.normalize(i.path) === file);
      if (item) return { secret: s.secretName, key: item.key, mode: mode(item.mode) };
    } else if (!file.includes("/")) {
      return { secret: s.secretName, key: file, mode: mode(undefined) };
    }
  }
  return { problem: `is not among the files volume ${volume.name} projects (its items name others)` };
}

function checkSecretNeeds(ctx) {
  const { c, pod, env, need } = ctx;
  const flags = flagsOf(c);
  const ps = pod.securityContext || {};
  const fromSecret = (e) => !!(e && e.valueFrom && e.valueFrom.secretKeyRef);

  // A path that must be a readable file of a Secret volume.
  const needSecretFile = (what, path) => {
    const file = secretFileOf(path, c, pod);
    if (file.problem) {
      need(false, `${what} ${path} ${file.problem}: mount the Secret as a volume and name its file`);
      return;
    }
    need(Number.isInteger(ps.fsGroup) || (file.mode & 0o004) !== 0,
         `${what} ${path}: the Secret's files are root's, and with mode ${octal(file.mode)} and no pod ` +
         "fsGroup the queue's user cannot read them: set fsGroup (the kubelet gives the files its group)");
  };
  // A *_FILE variable must be a plain path: from a Secret it would be a secret in the environment.
  const literalPath = (name) => {
    const e = env.get(name);
    if (!e) return undefined;
    need(e.value !== undefined && !e.valueFrom, `${name} must be a literal path (value:), not valueFrom`);
    return e.value !== undefined ? String(e.value) : undefined;
  };

  for (const t of TOKENS) {
    need(!env.has(t.name),
         `${t.name} must not be in the container's environment (literal or from a Secret): a variable ` +
         `shows in /proc/PID/environ and in crictl inspect on the node; mount the Secret and set ${t.name}_FILE`);
    need(flags[t.flag] === undefined,
         `${t.flag} puts the token on the command line, which ps shows: use ${t.name}_FILE`);
    const fromEnv = literalPath(`${t.name}_FILE`);
    const path = flags[t.fileFlag] !== undefined ? flags[t.fileFlag] : fromEnv;
    if (path !== undefined) needSecretFile(flags[t.fileFlag] !== undefined ? t.fileFlag : `${t.name}_FILE`, path);
    else need(!t.required, `${t.name}_FILE must name the token's file in a mounted Secret volume`);
  }
  for (const from of c.envFrom || []) {
    need(!from.secretRef, `envFrom Secret ${from.secretRef && from.secretRef.name} puts its keys in the ` +
         "environment: mount it as a volume and name its files");
  }

  // The journal: a URI with a password only in a file, and that file named by the flag.
  const db = env.get("QUEUE_DB");
  need(!fromSecret(db), "QUEUE_DB from a Secret puts the URI in the environment: name the Secret's file " +
       "with --db-file");
  for (const [where, value] of [["QUEUE_DB", db && db.value], ["--db", flags["--db"]]]) {
    need(value === undefined || !hasPassword(String(value)),
         `${where} must not hold the password: put the URI with its password in a Secret and name ` +
         "its file with --db-file");
  }
  need(!env.has("QUEUE_DB_FILE"),
       "QUEUE_DB_FILE stops the queue: the image sets QUEUE_DB, and the queue refuses a value and its " +
       "file both in the environment; name the file with --db-file (a flag wins over the environment)");
  need(!(flags["--db"] !== undefined && flags["--db-file"] !== undefined),
       "--db and --db-file both given: the queue refuses them together");
  if (flags["--db-file"] !== undefined) needSecretFile("--db-file", flags["--db-file"]);

  need(!env.has("PGPASSWORD"),
       "PGPASSWORD must not be in the container's environment (literal or from a Secret): put the " +
       "password in the journal's URI and name that Secret's file with --db-file");
  const passfile = literalPath("PGPASSFILE");
  if (passfile !== undefined && !secretFileOf(passfile, c, pod).problem) {
    need(false, `PGPASSFILE ${passfile} is a Secret's file, which libpq ignores: the queue's user reads ` +
         "it only through group or other permissions, and libpq wants 0600 or less; put the password " +
         "in the journal's URI and name that Secret's file with --db-file");
  }
}

module.exports = { checkSecretNeeds, flagsOf };
