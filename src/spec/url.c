/* SPDX-License-Identifier: Apache-2.0 */
/* spec/url.c: the url of an http health check, split for the checker and the rules that
 * decide whether a check can run at all. */
#include "spec/spec.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int zl_spec_check_url_parse(const char *url, char *host, size_t cap, unsigned *port, char **path,
                            const char **why)
{
    *path = NULL;
    if (!strncmp(url, "https://", 8)) {
        *why = "https:// cannot be checked: health checks speak plain HTTP";
        return -1;
    }
    if (strncmp(url, "http://", 7) != 0) {
        *why = "not an absolute http:// URL";
        return -1;
    }
    const char *p = url + 7;
    size_t hl = strcspn(p, ":/?#");
    if (!hl) {
        *why = "the URL has no host";
        return -1;
    }
    if (hl >= cap) {
        *why = "the URL's host is too long";
        return -1;
    }
    for (size_t i = 0; i < hl; i++)
        host[i] = (char)tolower((unsigned char)p[i]);
    host[hl] = '\0';
    p += hl;
    *port = 0;
    if (*p == ':') {
        char *end = NULL;
        unsigned long v = isdigit((unsigned char)p[1]) ? strtoul(p + 1, &end, 10) : 0;
        if (!v || v > 65535 || (*end && !strchr("/?#", *end))) {
            *why = "the URL's port is not 1-65535";
            return -1;
        }
        *port = (unsigned)v;
        p = end;
    }
    /* what follows the authority is "", /PATH, ?QUERY or #FRAGMENT (the split above leaves
     * nothing else): the request's target is the path ("/" when empty, as HTTP requires) with
     * its query; a fragment is never sent */
    size_t n = strcspn(p, "#");
    *path = zl_xasprintf("%s%.*s", *p == '/' ? "" : "/", (int)n, p);
    return 0;
}
