/* SPDX-License-Identifier: Apache-2.0 */
/* spec/schema.c: the v1 format as data: every object, field, type, default and alias. */
#include "spec/internal.h"

#include <string.h>

/* ---- scalar types ---- */

static const struct zl_type t_str = {.kind = TK_STR, .name = "string"};
static const struct zl_type t_bool = {.kind = TK_BOOL, .name = "boolean"};
static const struct zl_type t_u8 = {.kind = TK_INT, .name = "u8", .max = UINT8_MAX};
static const struct zl_type t_u16 = {.kind = TK_INT, .name = "u16", .max = UINT16_MAX};
static const struct zl_type t_u32 = {.kind = TK_INT, .name = "u32", .max = UINT32_MAX};
static const struct zl_type t_u64 = {.kind = TK_INT, .name = "u64", .max = UINT64_MAX};
static const struct zl_type t_i32 = {
    .kind = TK_INT, .name = "i32", .is_signed = true, .min = INT32_MIN, .max = INT32_MAX};
static const struct zl_type t_i64 = {
    .kind = TK_INT, .name = "i64", .is_signed = true, .min = INT64_MIN, .max = INT64_MAX};
static const struct zl_type t_float = {.kind = TK_FLOAT, .name = "number"};
static const struct zl_type t_duration = {.kind = TK_DURATION, .name = "duration"};
static const struct zl_type t_memsize = {.kind = TK_MEMSIZE, .name = "memory size"};
static const struct zl_type t_image = {.kind = TK_IMAGE, .name = "image reference"};
static const struct zl_type t_cron = {.kind = TK_CRON, .name = "cron schedule"};
static const struct zl_type t_affinity = {.kind = TK_AFFINITY, .name = "affinity"};
static const struct zl_type t_netmode = {.kind = TK_NETMODE, .name = "network mode"};
static const struct zl_type t_any = {.kind = TK_ANY, .name = "value"};
static const struct zl_type t_strlist = {.kind = TK_LIST, .name = "sequence", .item = &t_str};
static const struct zl_type t_strmap = {.kind = TK_MAP, .name = "mapping", .item = &t_str};
static const struct zl_type t_anymap = {.kind = TK_MAP, .name = "mapping", .item = &t_any};

#define ENUM(var, ...)                                        \
    static const char *const var##_w[] = {__VA_ARGS__, NULL}; \
    static const struct zl_type var = {.kind = TK_ENUM, .name = "enum", .words = var##_w}

ENUM(e_rtype, "service", "job", "cron");
ENUM(e_service_type, "standard", "wasm_http", "wasm_plugin", "wasm_transformer",
     "wasm_authenticator", "wasm_rate_limiter", "wasm_middleware", "wasm_router", "job");
ENUM(e_pull_policy, "always", "newer", "if_not_present", "never");
ENUM(e_source_policy, "local_first", "s3_first", "remote_only", "local_only");
ENUM(e_gpu_scheduling, "best-effort", "gang", "spread");
ENUM(e_gpu_sharing, "exclusive", "mps", "time-slice");
ENUM(e_protocol, "http", "https", "tcp", "udp", "websocket");
ENUM(e_expose, "public", "internal");
ENUM(e_l4, "tcp", "udp");
ENUM(e_reach, "auto", "always", "never");
ENUM(e_node_mode, "shared", "dedicated", "exclusive");
ENUM(e_isolation, "auto", "process", "hyperv");
ENUM(e_os, "linux", "windows", "macos");
ENUM(e_arch, "amd64", "arm64");
ENUM(e_join_mode, "open", "token", "closed");
ENUM(e_join_scope, "service", "global");
ENUM(e_overlay_mode, "auto", "shared", "dedicated");
ENUM(e_condition, "started", "healthy", "ready");
ENUM(e_on_timeout, "fail", "warn", "continue");
ENUM(e_init_failure, "fail", "restart", "backoff");
ENUM(e_panic, "restart", "shutdown", "isolate");
ENUM(e_restart_kind, "no", "always", "unless_stopped", "on_failure");
ENUM(e_tier, "local", "cached", "network");

#define F(k, t, ...)                        \
    {                                       \
        .key = k, .type = &(t), __VA_ARGS__ \
    }
#define OBJ_T(var, nm, lax, hint, ...)                                   \
    static const struct zl_field var##_f[] = {__VA_ARGS__};              \
    static const struct zl_type var = {.kind = TK_OBJ,                   \
                                       .name = nm,                       \
                                       .fields = var##_f,                \
                                       .nfields = ZL_ARRAY_LEN(var##_f), \
                                       .lenient = lax,                   \
                                       .shape_hint = hint}
#define OBJ(var, nm, ...) OBJ_T(var, nm, false, NULL, __VA_ARGS__)
#define LIST(var, of) \
    static const struct zl_type var = {.kind = TK_LIST, .name = "sequence", .item = &(of)}
#define REQ    .flags = ZF_REQ
#define DEF(x) .def = x

/* ---- 5.1 image, 5.2 command ---- */

OBJ_T(o_image, "image", false,
      "image is a mapping: `image: {name: nginx:1.27}` (there is no string shorthand)",
      F("name", t_image, REQ, .rule = "P-10"),
      F("pull_policy", e_pull_policy, DEF("if_not_present")), F("source_policy", e_source_policy));

OBJ_T(o_command, "command", false,
      "command is a mapping: `command: {args: [redis-server, --save, \"\"]}` (or `entrypoint`)",
      F("entrypoint", t_strlist), F("args", t_strlist), F("workdir", t_str));

/* ---- 5.4 resources ---- */

OBJ(o_gpu_dist, "distributed", F("backend", t_str, DEF("nccl")),
    F("master_port", t_u16, DEF("29500")));
OBJ(o_gpu, "gpu", F("count", t_u32, DEF("1")), F("vendor", t_str, DEF("nvidia")), F("mode", t_str),
    F("model", t_str), F("scheduling", e_gpu_scheduling), F("distributed", o_gpu_dist),
    F("sharing", e_gpu_sharing), F("mps_pipe_dir", t_str), F("mps_log_dir", t_str),
    F("time_slice_index", t_u32), F("time_slicing_config_path", t_str));
OBJ(o_resources, "resources", F("cpu", t_float), F("memory", t_memsize, .rule = "F-4"),
    F("gpu", o_gpu), F("pids_limit", t_i64), F("cpuset", t_str), F("cpu_shares", t_u32),
    F("memory_swap", t_memsize, .rule = "R-8"), F("memory_reservation", t_memsize, .rule = "R-8"),
    F("memory_swappiness", t_u8), F("oom_score_adj", t_i32), F("oom_kill_disable", t_bool),
    F("blkio_weight", t_u16));

/* ---- 5.5 endpoints ---- */

OBJ_T(o_hc_tcp_connect, "tcp_connect", true, NULL, F("type", t_str, REQ));
OBJ_T(o_hc_udp_probe, "udp_probe", true, NULL, F("type", t_str, REQ), F("request", t_str, REQ),
      F("expect", t_str));
static const struct zl_variant v_stream_hc[] = {
    {"tcp_connect", &o_hc_tcp_connect, NULL},
    {"udp_probe", &o_hc_udp_probe, NULL},
};
static const struct zl_type u_stream_hc = {.kind = TK_UNION,
                                           .name = "health_check",
                                           .tag_key = "type",
                                           .variants = v_stream_hc,
                                           .nvariants = ZL_ARRAY_LEN(v_stream_hc)};
OBJ(o_stream, "stream", F("tls", t_bool, DEF("false")), F("proxy_protocol", t_bool, DEF("false")),
    F("session_timeout", t_duration, .rule = "R-9"), F("health_check", u_stream_hc));
OBJ(o_access, "access", F("enabled", t_bool, DEF("false")), F("max_ttl", t_duration, .rule = "X-7"),
    F("audit", t_bool, DEF("false")));
OBJ(o_ep_tunnel, "tunnel", F("enabled", t_bool, DEF("false")), F("from", t_str), F("to", t_str),
    F("remote_port", t_u16, DEF("0")), F("expose", e_expose), F("access", o_access));
OBJ(o_endpoint, "endpoint", F("name", t_str, REQ), F("protocol", e_protocol, REQ),
    F("port", t_u16, REQ), F("target_port", t_u16), F("path", t_str), F("host", t_str),
    F("expose", e_expose, DEF("internal")), F("stream", o_stream), F("target_role", t_str),
    F("tunnel", o_ep_tunnel));
LIST(l_endpoints, o_endpoint);

/* ---- 5.6 scale ---- */

OBJ(o_targets, "targets", F("cpu", t_u8), F("memory", t_u8), F("rps", t_u32));
OBJ(o_scale_adaptive, "adaptive", F("mode", t_str, REQ), F("min", t_u32, REQ), F("max", t_u32, REQ),
    F("cooldown", t_duration), F("targets", o_targets, DEF("{}")));
OBJ(o_scale_fixed, "fixed", F("mode", t_str, REQ), F("replicas", t_u32, REQ));
OBJ_T(o_scale_manual, "manual", true, NULL, F("mode", t_str, REQ));
static const struct zl_variant v_scale[] = {
    {"adaptive", &o_scale_adaptive, NULL},
    {"fixed", &o_scale_fixed, NULL},
    {"manual", &o_scale_manual, NULL},
};
static const struct zl_type u_scale = {.kind = TK_UNION,
                                       .name = "scale",
                                       .tag_key = "mode",
                                       .variants = v_scale,
                                       .nvariants = ZL_ARRAY_LEN(v_scale)};

/* ---- 5.7, 5.8 placement ---- */

OBJ(o_replica_group, "replica group", F("role", t_str, REQ), F("count", t_u32, REQ),
    F("image", o_image), F("env", t_strmap, DEF("{}")), F("command", o_command),
    F("resources", o_resources), F("affinity", t_affinity, DEF("spread")));
LIST(l_replica_groups, o_replica_group);
OBJ(o_node_selector, "node_selector", F("labels", t_strmap, DEF("{}")),
    F("prefer_labels", t_strmap, DEF("{}")));
OBJ_T(o_platform, "platform", true, NULL, F("os", e_os, REQ), F("arch", e_arch, REQ),
      F("osVersion", t_str));

/* ---- 5.9 - 5.12 networking ---- */

OBJ(o_overlay_settings, "overlay settings", F("enabled", t_bool, DEF("true")),
    F("encrypted", t_bool, DEF("true")), F("isolated", t_bool, DEF("false")));
#define OVERLAY_OFF "{enabled: false, encrypted: false, isolated: false}"
OBJ(o_overlays, "overlays", F("service", o_overlay_settings, DEF(OVERLAY_OFF)),
    F("global", o_overlay_settings, DEF(OVERLAY_OFF)));
OBJ(o_join, "join", F("mode", e_join_mode, DEF("token")), F("scope", e_join_scope, DEF("service")));
OBJ(o_network, "network", F("overlays", o_overlays, DEF("{service: {isolated: true}, global: {}}")),
    F("join", o_join, DEF("{}")));
OBJ_T(o_overlay, "overlay", true, NULL, F("mode", e_overlay_mode, DEF("auto")), F("parent", t_str));
OBJ_T(o_port_mapping, "port mapping", true, NULL, F("container_port", t_u16, REQ),
      F("host_port", t_u16), F("protocol", e_l4, DEF("tcp")), F("host_ip", t_str, DEF("0.0.0.0")));
LIST(l_port_mappings, o_port_mapping);

/* ---- 5.13 - 5.17 lifecycle ---- */

OBJ_T(o_check_tcp, "tcp", true, NULL, F("type", t_str, REQ), F("port", t_u16, REQ));
OBJ_T(o_check_http, "http", true, NULL, F("type", t_str, REQ), F("url", t_str, REQ),
      F("expect_status", t_u16, DEF("200")));
OBJ_T(o_check_command, "command", true, NULL, F("type", t_str, REQ), F("command", t_str, REQ));
static const struct zl_variant v_check[] = {
    {"tcp", &o_check_tcp, NULL},
    {"http", &o_check_http, NULL},
    {"command", &o_check_command, NULL},
    {"exec", NULL,
     "there is no `exec` check: write `check: {type: command, command: \"pg_isready -U app\"}`"},
};
static const struct zl_type u_check = {.kind = TK_UNION,
                                       .name = "check",
                                       .tag_key = "type",
                                       .variants = v_check,
                                       .nvariants = ZL_ARRAY_LEN(v_check)};
OBJ(o_health, "health", F("start_grace", t_duration), F("interval", t_duration),
    F("timeout", t_duration), F("retries", t_u32, DEF("3")), F("check", u_check, REQ));
OBJ(o_dependency, "dependency", F("service", t_str, REQ),
    F("condition", e_condition, DEF("healthy")),
    F("timeout", t_duration, DEF("300s"), .flags = ZF_NULLDEF),
    F("on_timeout", e_on_timeout, DEF("fail")));
LIST(l_depends, o_dependency);
OBJ(o_init_step, "init step", F("id", t_str, REQ), F("uses", t_str, REQ),
    F("with", t_anymap, DEF("{}")), F("retry", t_u32), F("timeout", t_duration),
    F("on_failure", e_on_timeout, DEF("fail")));
LIST(l_init_steps, o_init_step);
OBJ_T(o_init, "init", false,
      "init is a mapping with `steps`: `init: {steps: [{id: fetch, uses: init.s3_pull, with: "
      "{bucket: b, key: k, destination: /data}}]}`",
      F("steps", l_init_steps, DEF("[]")));
OBJ_T(o_on_init_failure, "on_init_failure", false,
      "write `on_init_failure: {action: backoff}` (a mapping with `action`)",
      F("action", e_init_failure, REQ));
OBJ_T(o_on_panic, "on_panic", false,
      "write `on_panic: {action: restart}` (a mapping with `action`)", F("action", e_panic, REQ));
OBJ(o_errors, "errors", F("on_init_failure", o_on_init_failure, DEF("{action: fail}")),
    F("on_panic", o_on_panic, DEF("{action: restart}")));
OBJ(o_lifecycle, "lifecycle", F("delete_on_exit", t_bool, DEF("false")));
OBJ(o_restart_policy, "restart_policy", F("kind", e_restart_kind, REQ), F("max_attempts", t_u32),
    F("delay", t_duration, .rule = "R-9"));

/* ---- 5.18 - 5.21 storage, devices, ulimits, logs ---- */

OBJ(o_st_bind, "bind", F("type", t_str, REQ), F("source", t_str, REQ), F("target", t_str, REQ),
    F("readonly", t_bool, DEF("false")));
OBJ(o_st_named, "named", F("type", t_str, REQ), F("name", t_str, REQ), F("target", t_str, REQ),
    F("readonly", t_bool, DEF("false")), F("tier", e_tier, DEF("local")),
    F("size", t_memsize, .rule = "R-8"));
OBJ(o_st_anon, "anonymous", F("type", t_str, REQ), F("target", t_str, REQ),
    F("tier", e_tier, DEF("local")));
OBJ(o_st_tmpfs, "tmpfs", F("type", t_str, REQ), F("target", t_str, REQ),
    F("size", t_memsize, .rule = "R-8"), F("mode", t_u32, .flags = ZF_OCTAL));
OBJ(o_st_s3, "s3", F("type", t_str, REQ), F("bucket", t_str, REQ), F("target", t_str, REQ),
    F("prefix", t_str), F("readonly", t_bool, DEF("false")), F("endpoint", t_str),
    F("credentials", t_str));
static const struct zl_variant v_storage[] = {
    {"bind", &o_st_bind, NULL},   {"named", &o_st_named, NULL}, {"anonymous", &o_st_anon, NULL},
    {"tmpfs", &o_st_tmpfs, NULL}, {"s3", &o_st_s3, NULL},
};
static const struct zl_type u_storage = {.kind = TK_UNION,
                                         .name = "storage",
                                         .tag_key = "type",
                                         .variants = v_storage,
                                         .nvariants = ZL_ARRAY_LEN(v_storage)};
LIST(l_storage, u_storage);
OBJ(o_device, "device", F("path", t_str, REQ), F("read", t_bool, DEF("true")),
    F("write", t_bool, DEF("true")), F("mknod", t_bool, DEF("false")));
LIST(l_devices, o_device);
OBJ(o_ulimit, "ulimit", F("soft", t_i64), F("hard", t_i64));
static const struct zl_type m_ulimits = {.kind = TK_MAP, .name = "mapping", .item = &o_ulimit};
OBJ_T(o_logs, "logs", true, NULL, F("destination", t_str, DEF("disk")),
      F("max_size_bytes", t_u64, DEF("104857600")), F("retention_secs", t_u64, DEF("604800")));

/* ---- 5.22 wasm ---- */

OBJ(o_wasm_caps, "capabilities", F("config", t_bool, DEF("true")),
    F("keyvalue", t_bool, DEF("true")), F("logging", t_bool, DEF("true")),
    F("secrets", t_bool, DEF("false")), F("metrics", t_bool, DEF("true")),
    F("http_client", t_bool, DEF("false")), F("cli", t_bool, DEF("false")),
    F("filesystem", t_bool, DEF("false")), F("sockets", t_bool, DEF("false")));
OBJ(o_preopen, "preopen", F("source", t_str, REQ), F("target", t_str, REQ),
    F("readonly", t_bool, DEF("false")));
LIST(l_preopens, o_preopen);
OBJ(o_wasm, "wasm", F("min_instances", t_u32, DEF("0")), F("max_instances", t_u32, DEF("10")),
    F("idle_timeout", t_duration, DEF("5m")), F("request_timeout", t_duration, DEF("30s")),
    F("max_memory", t_memsize, .rule = "X-9"), F("max_fuel", t_u64, DEF("0")),
    F("epoch_interval", t_duration), F("capabilities", o_wasm_caps),
    F("allow_http_outgoing", t_bool, DEF("true")), F("allowed_hosts", t_strlist, DEF("[]")),
    F("allow_tcp", t_bool, DEF("false")), F("allow_udp", t_bool, DEF("false")),
    F("preopens", l_preopens, DEF("[]")), F("kv_enabled", t_bool, DEF("true")),
    F("kv_namespace", t_str), F("kv_max_value_size", t_u64, DEF("1048576")),
    F("secrets", t_strlist, DEF("[]")), F("precompile", t_bool, DEF("true")));

/* ---- 4 the service ---- */

OBJ(o_service, "service",
    /* 4.1 */
    F("rtype", e_rtype, DEF("service")), F("schedule", t_cron, .rule = "F-8"),
    F("service_type", e_service_type, DEF("standard")), F("wasm", o_wasm, .alias = "wasm_http"),
    /* 4.2 */
    F("image", o_image, REQ), F("command", o_command, DEF("{}")), F("env", t_strmap, DEF("{}")),
    F("resources", o_resources, DEF("{}")), F("user", t_str),
    F("extra_groups", t_strlist, DEF("[]")), F("hostname", t_str), F("init_container", t_bool),
    F("tty", t_bool, DEF("false")), F("stdin_open", t_bool, DEF("false")),
    F("labels", t_strmap, DEF("{}")), F("logs", o_logs),
    /* 4.3 */
    F("endpoints", l_endpoints, DEF("[]")), F("network", o_network, DEF("{}")),
    F("overlay", o_overlay), F("network_mode", t_netmode, DEF("default")),
    F("host_network", t_bool), F("port_mappings", l_port_mappings, DEF("[]")),
    F("expose", t_strlist, DEF("[]")), F("dns", t_strlist, DEF("[]")),
    F("extra_hosts", t_strlist, DEF("[]")), F("localhost_reachability", e_reach, DEF("auto")),
    /* 4.4 */
    F("scale", u_scale, DEF("{mode: adaptive, min: 1, max: 10, cooldown: 30s}")),
    F("replica_groups", l_replica_groups), F("node_mode", e_node_mode, DEF("shared")),
    F("node_selector", o_node_selector), F("affinity", t_affinity), F("platform", o_platform),
    F("isolation", e_isolation),
    /* 4.5 */
    F("depends", l_depends, DEF("[]")),
    F("health", o_health, DEF("{start_grace: 5s, retries: 3, check: {type: tcp, port: 0}}")),
    F("init", o_init, DEF("{}")), F("errors", o_errors, DEF("{}")),
    F("lifecycle", o_lifecycle, DEF("{}")), F("restart_policy", o_restart_policy),
    F("stop_signal", t_str), F("stop_grace_period", t_duration),
    /* 4.6 */
    F("storage", l_storage, DEF("[]")), F("devices", l_devices, DEF("[]")),
    F("read_only_root_fs", t_bool, DEF("false")),
    /* 4.7 */
    F("capabilities", t_strlist, DEF("[]"), .alias = "cap_add"),
    F("cap_drop", t_strlist, DEF("[]")), F("privileged", t_bool, DEF("false")),
    F("security_opt", t_strlist, DEF("[]")), F("sysctls", t_strmap, DEF("{}")),
    F("ulimits", m_ulimits, DEF("{}")), F("pid_mode", t_str), F("ipc_mode", t_str),
    F("userns_mode", t_str), F("cgroup_parent", t_str));
static const struct zl_type m_services = {.kind = TK_MAP, .name = "mapping", .item = &o_service};

/* ---- 6 - 8 externals, tunnels, api; 3 the document ---- */

OBJ(o_external, "external", F("backends", t_strlist, REQ), F("endpoints", l_endpoints, DEF("[]")),
    F("health", o_health));
static const struct zl_type m_externals = {.kind = TK_MAP, .name = "mapping", .item = &o_external};
OBJ(o_tunnel, "tunnel", F("from", t_str, REQ), F("to", t_str, REQ), F("local_port", t_u16, REQ),
    F("remote_port", t_u16, REQ), F("protocol", e_l4, DEF("tcp")),
    F("expose", e_expose, DEF("internal")));
static const struct zl_type m_tunnels = {.kind = TK_MAP, .name = "mapping", .item = &o_tunnel};
OBJ_T(o_api, "api", true, NULL, F("enabled", t_bool, DEF("true")),
      F("bind", t_str, DEF("0.0.0.0:3669")), F("jwt_secret", t_str),
      F("swagger", t_bool, DEF("true")));

static const struct zl_field root_f[] = {
    F("version", t_str, REQ),
    F("deployment", t_str, REQ),
    F("services", m_services, DEF("{}")),
    F("externals", m_externals, DEF("{}")),
    F("tunnels", m_tunnels, DEF("{}")),
    F("api", o_api, DEF("{}")),
};
const struct zl_type zl_spec__root_type = {
    .kind = TK_OBJ, .name = "document", .fields = root_f, .nfields = ZL_ARRAY_LEN(root_f)};

const struct zl_field *zl_spec__field(const struct zl_type *t, const char *key, size_t *idx)
{
    for (size_t i = 0; i < t->nfields; i++) {
        const struct zl_field *f = &t->fields[i];
        if (strcmp(f->key, key) == 0 || (f->alias && strcmp(f->alias, key) == 0)) {
            if (idx)
                *idx = i;
            return f;
        }
    }
    return NULL;
}
