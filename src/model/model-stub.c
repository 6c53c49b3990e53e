/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder for the model-image implementation (delete this file when src/model lands). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "model/model.h"

int cn_model_spec_parse(const char *s, struct cn_model_spec *ret)
{
	return cn_err_set(-EOPNOTSUPP, "model images are not implemented yet");
}

void cn_model_spec_done(struct cn_model_spec *s)
{
	free(s->name);
	free(s->commit);
	free(s->root_hash);
	*s = (struct cn_model_spec){ 0 };
}

char *cn_model_path_name(const char *name)
{
	return NULL;
}

int cn_model_build(const struct cn_model_build_opts *o, struct cn_model_image *ret)
{
	return cn_err_set(-EOPNOTSUPP, "model images are not implemented yet");
}

void cn_model_image_done(struct cn_model_image *img)
{
}

int cn_model_hf_cache_snapshot(const char *hf_home, const char *name, const char *commit, char **ret_dir)
{
	return -ENOENT;
}
