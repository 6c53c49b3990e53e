/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The launcher's INI parser, then the resolver and the QEMU argv builder fed from whatever
 * parsed, then both printers: no crash, no leak, and a built argv is NULL-terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "launch/launch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cn_launch_env env = {
	    .root = "/srv/cocoon", .cwd = "/home/op", .run_dir = "/run/cocoon"};
	struct cn_launch_settings s;
	struct cn_launch_config c;
	struct cn_strv a = {0};

	if (cn_launch_settings_parse((const char *)data, size, "fuzz.conf", &s) < 0)
		return 0;
	for (int no_tdx = 0; no_tdx < 2; no_tdx++) {
		if (cn_launch_config_resolve(&s, &env, no_tdx, &c) < 0)
			continue;
		{
			char *extra[] = {(char *)"-S"};
			struct cn_launch_inputs in = {
			    .cfg = &c,
			    .image_cmdline = "console=hvc0",
			    .model_tar = c.model ? "/m.tar" : NULL,
			    .model_verity = c.model ? "/m.tar.verity" : NULL,
			    .spec_share = "/run/cocoon/x/spec",
			    .instance_dir = "/run/cocoon/x",
			    .extra = extra,
			    .n_extra = 1,
			};

			if (cn_launch_argv(&in, &a) == 0) {
				char *sh = cn_launch_argv_shell(a.v, a.n),
				     *js = cn_launch_argv_json(a.v, a.n);

				if (a.v[a.n] != NULL)
					abort();
				free(sh);
				free(js);
				cn_strv_done(&a);
			}
		}
		{
			struct cn_launch_claims k;

			if (cn_launch_claims_from_config(&c, &k) == 0)
				cn_launch_claims_done(&k);
		}
		cn_launch_config_done(&c);
	}
	cn_launch_settings_done(&s);
	return 0;
}
