/* SPDX-License-Identifier: Apache-2.0 */
/* image/images_internal.h: what images.c and archive.c share. */
#ifndef ZL_IMAGE_IMAGES_INTERNAL_H
#define ZL_IMAGE_IMAGES_INTERNAL_H

#include "image/image.h"
#include "store/store.h"

struct zl_images {
    char *root;
    struct zl_image_store *store;
    struct zl_store *db;
    struct zl_registry_opts ropts;
    struct zl_registry *reg; /* made on first use: local commands need no network */
};

int zl_images__gc_lock(struct zl_images *im, bool exclusive, struct zl_err *err);
struct zl_registry *zl_images__registry(struct zl_images *im, struct zl_err *err);
void zl_images__info_from_row(const struct zl_store_image *row, struct zl_image_info *out);
/* With manifest m and all its blobs stored: snapshots and index rows for ref. */
int zl_images__record(struct zl_images *im, const char *ref, const struct zl_manifest *m,
                      zl_pull_event_cb cb, void *ctx, struct zl_image_info *out,
                      struct zl_err *err);

#endif
