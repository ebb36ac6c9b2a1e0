/*
 * batch_npy: the header of a NumPy .npy file holding a float32 [N, D]
 * array, for batch mode.
 *
 * The header is always BATCH_NPY_HEADER_LEN bytes: the magic, version
 * 1.0, the header length and the dictionary
 *	{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }
 * padded with spaces to a newline, so that the data starts at a multiple
 * of 64 as the format asks. The padding has room for any 64-bit N and D,
 * so the header can be rewritten in place as rows are appended: the
 * file's size never depends on how large N has grown.
 *
 * No I/O, no allocation, no global state.
 */
#ifndef EMBEDWATCH_BATCH_NPY_H
#define EMBEDWATCH_BATCH_NPY_H

#include <stddef.h>
#include <stdint.h>

#define BATCH_NPY_HEADER_LEN	128

/* Write the header for rows x dim into out. */
void	 batch_npy_header(uint64_t rows, uint64_t dim,
	    char out[BATCH_NPY_HEADER_LEN]);

/*
 * Read the header at the front of p (len bytes, which may be more or less
 * than the header). Returns 1 with *rows, *dim and *data_off (where the
 * data starts) set if it describes a little-endian float32, C-order, 2-D
 * array; 0 if len is too short to hold the whole header; -1 with a
 * message in err if it is not such a header. Any version 1.0 or 2.0
 * header is read, not only ours.
 */
int	 batch_npy_parse(const char *p, size_t len, uint64_t *rows,
	    uint64_t *dim, size_t *data_off, char *err, size_t errlen);

#endif
