/* SPDX-License-Identifier: Apache-2.0 */
#include "oci/job.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

int oci_job_fail(struct oci_job *j, int r)
{
	r = r < 0 ? r : -r;
	if (cn_err_msg()[0])
		(void)snprintf(j->err, sizeof(j->err), "%s", cn_err_msg());
	else
		(void)snprintf(j->err, sizeof(j->err), "%s", strerror(-r));
	return r;
}

int oci_jobs_run(struct oci_job *jobs, unsigned n, void *(*fn)(void *))
{
	pthread_t t[8];
	bool started[8] = {false};
	int r = 0;

	if (n > 8)
		return cn_err_set(-EINVAL, "too many parallel transfers");
	for (unsigned i = 0; i < n; i++) {
		jobs[i].r = 0;
		jobs[i].err[0] = 0;
		if (pthread_create(&t[i], NULL, fn, &jobs[i]) == 0)
			started[i] = true;
		else
			fn(&jobs[i]); /* no thread: run it here */
	}
	for (unsigned i = 0; i < n; i++)
		if (started[i])
			(void)pthread_join(t[i], NULL);
	for (unsigned i = 0; i < n; i++)
		if (jobs[i].r < 0 && r == 0)
			r = cn_err_set(jobs[i].r, "%s", jobs[i].err);
	return r;
}

void oci_job_done(struct oci_job *j)
{
	if (j->fd >= 0)
		(void)close(j->fd);
	free(j->path);
	EVP_MD_CTX_free(j->sha);
	j->fd = -1;
	j->path = NULL;
	j->sha = NULL;
}
