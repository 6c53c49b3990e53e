/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The RIM schema documents (src/attest/rim/xsd/), embedded at build time by embed-xsd.py. */
#include <stddef.h>

struct cn_rim_xsd_file {
	const char *name;	   /* "rim-swid.xsd" */
	const unsigned char *data; /* NUL-terminated */
	size_t len;		   /* without the NUL */
};

extern const struct cn_rim_xsd_file cn_rim_xsd_files[];
extern const size_t cn_rim_xsd_n_files;

/* The main document (imports the others as "cn-rim-xsd:<name>"). */
#define CN_RIM_XSD_MAIN "rim-swid.xsd"
