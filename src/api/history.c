/* SPDX-License-Identifier: Apache-2.0 */
/* api/history.c: a deployment's revisions, and going back to one of them. */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

/* GET /api/v1/deployments/{name}/revisions: oldest first, the current one marked. */
void zl_api__revisions(struct zl_api *a, struct zl_http_req *r, const struct zl_store_deployment *d)
{
    struct zl_store_revision *v = NULL;
    size_t n = 0;
    struct zl_err err;
    if (zl_store_revision_list(a->db, d->name, &v, &n, &err) < 0)
        return zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:I, s:I, s:s, s:b}", "revision",
                                             (json_int_t)v[i].revision, "created_at",
                                             (json_int_t)v[i].created, "note", v[i].note, "current",
                                             v[i].revision == d->revision));
    zl_store_revisions_free(v, n);
    char *text = json_dumps(arr, JSON_COMPACT);
    zl_http_respond(r, 200, "application/json", text, strlen(text));
    free(text);
    json_decref(arr);
}

/* POST /api/v1/deployments/{name}/rollback {"revision": N}: apply revision N again as a new
 * revision; without N, the revision before the current one. */
void zl_api__rollback(struct zl_api *a, struct zl_http_req *r, const struct zl_store_deployment *d)
{
    json_t *b = r->body_len ? json_loadb(r->body, r->body_len, 0, NULL) : json_object();
    json_t *rev = json_object_get(b, "revision");
    int64_t to = d->revision - 1;
    if (!b || (rev && (!json_is_integer(rev) || json_integer_value(rev) < 1))) {
        json_decref(b);
        return zl_http_respond_error(r, 400, "bad_request", NULL,
                                     "the body must be {\"revision\": N} with N >= 1, or empty");
    }
    if (rev)
        to = json_integer_value(rev);
    json_decref(b);
    if (to < 1)
        return zl_http_respond_error(r, 409, "conflict", NULL,
                                     "deployment %s has no revision before %lld", d->name,
                                     (long long)d->revision);
    if (to == d->revision)
        return zl_http_respond_error(r, 409, "conflict", NULL, "revision %lld is the current one",
                                     (long long)to);
    struct zl_err err;
    int64_t now = 0;
    if (zl_store_rollback(a->db, d->name, to, d->revision, &now, &err) < 0)
        return zl_http_respond_error(r, err.code == -ZL_ENOTFOUND ? 404 : 500,
                                     err.code == -ZL_ENOTFOUND ? "not_found" : "internal_error",
                                     NULL, "%s", err.msg);
    zl_api_events_publish(a->events,
                          json_pack("{s:s, s:s, s:s, s:I, s:I}", "resource", "deployment", "kind",
                                    "apply", "deployment", d->name, "revision", (json_int_t)now,
                                    "rollback_to", (json_int_t)to));
    a->kick(a->kick_arg);
    json_t *j = json_pack("{s:s, s:I, s:I, s:s}", "name", d->name, "revision", (json_int_t)now,
                          "rollback_to", (json_int_t)to, "status", "deploying");
    char *text = json_dumps(j, JSON_COMPACT);
    zl_http_respond(r, 200, "application/json", text, strlen(text));
    free(text);
    json_decref(j);
}
