/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The one exit-code table of every cocoon command and alias (docs/reference.md, EXIT STATUS).
 * A command returns one of these from main(), never a library error code or a library enum:
 * map each outcome here, explicitly.
 *
 *   0  ok: done, accepted, ready, good
 *   1  error: could not do it or could not decide (I/O, a missing, unreadable or malformed
 *      input, a failed operation)
 *   2  usage: bad command line or configuration (unknown verb or option, wrong argument count,
 *      malformed argument such as a PCI address, impossible date)
 *   3  rejected or not ready: the input was read and judged, and the answer is no (evidence
 *      rejected, image corrupt or not matching its root hash, GPU not ready, no GPU found)
 *
 * Documented exceptions, launch only: 4 a host prerequisite is missing, 5 something the
 * instance needs is taken (instance, port, vsock CID, disk or GPU).
 */

enum cn_exit {
	CN_EXIT_OK = 0,
	CN_EXIT_ERROR = 1,
	CN_EXIT_USAGE = 2,
	CN_EXIT_REJECTED = 3,
	CN_EXIT_NOT_READY = 3, /* the same code as rejected: judged, not ready */
	CN_EXIT_PREREQ = 4,    /* launch only */
	CN_EXIT_IN_USE = 5,    /* launch only */
};
