/*
 * codecs.c: the five compressed formats behind one streaming interface
 * (capture_int.h, codec_*), told apart by their magic bytes.
 *
 * Each is its maintained library's streaming decoder: zlib (gzip),
 * libzstd, liblzma (xz), libbz2 and liblz4 (the frame format), driven
 * here rather than through libarchive's raw filters, which wrap the same
 * libraries about as fast but keep back what they decoded before damage
 * (bench/BENCHMARKS.md): bytesrc.c needs every byte decoded before it.
 *
 * The one contract, codec_run: decode from in[*in_pos, in_len) into
 * out[*out_pos, out_len), advancing both; CODEC_END when a stream (a gzip
 * member, a zstd or lz4 frame, an xz or bzip2 stream) ended exactly there,
 * so that another may follow (codec_restart); CODEC_ERROR on corrupt data.
 * Running out of input is not the codec's to judge: bytesrc.c calls a
 * stream that makes no progress at the end of the file cut short.
 */
#include "capture_int.h"

#include <bzlib.h>
#include <limits.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

struct codec {
    codec_kind kind;
    union {
        z_stream z;
        ZSTD_DStream *zs;
        lzma_stream xz;
        bz_stream bz;
        LZ4F_dctx *lz4;
    } u;
    char msg[128];
};

codec_kind codec_detect(const uint8_t *m, size_t len)
{
    static const uint8_t xz[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
    if (len >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return CODEC_GZIP;
    if (len >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        return CODEC_ZSTD;
    /* A skippable frame first (pzstd writes one): zstd's and lz4's share
     * the magic, and zstd is the one that starts files with it. */
    if (len >= 4 && (m[0] & 0xf0) == 0x50 && m[1] == 0x2a && m[2] == 0x4d && m[3] == 0x18)
        return CODEC_ZSTD;
    if (len >= 6 && memcmp(m, xz, sizeof(xz)) == 0)
        return CODEC_XZ;
    if (len >= 4 && m[0] == 'B' && m[1] == 'Z' && m[2] == 'h' && m[3] >= '1' && m[3] <= '9')
        return CODEC_BZIP2;
    if (len >= 4 && m[0] == 0x04 && m[1] == 0x22 && m[2] == 0x4d && m[3] == 0x18)
        return CODEC_LZ4;
    return CODEC_NONE;
}

const char *codec_name(codec_kind k)
{
    switch (k) {
    case CODEC_GZIP:
        return "gzip";
    case CODEC_ZSTD:
        return "zstd";
    case CODEC_XZ:
        return "xz";
    case CODEC_BZIP2:
        return "bzip2";
    case CODEC_LZ4:
        return "lz4";
    default:
        return "plain";
    }
}

/* Starts (or starts again) the library's decoder. 0, or -1 when out of
 * memory. */
static int start(codec *c, int again)
{
    switch (c->kind) {
    case CODEC_GZIP:
        if (again)
            return inflateReset(&c->u.z) == Z_OK ? 0 : -1;
        return inflateInit2(&c->u.z, 15 + 16) == Z_OK ? 0 : -1; /* gzip wrapper only */
    case CODEC_ZSTD:
        if (again) /* the next frame starts by itself */
            return 0;
        c->u.zs = ZSTD_createDStream();
        return c->u.zs && !ZSTD_isError(ZSTD_initDStream(c->u.zs)) ? 0 : -1;
    case CODEC_XZ:
        /* Re-initialising an lzma_stream reuses its memory. No memory
         * limit: xz's own default for decompression is none either. */
        return lzma_stream_decoder(&c->u.xz, UINT64_MAX, 0) == LZMA_OK ? 0 : -1;
    case CODEC_BZIP2:
        if (again)
            (void)BZ2_bzDecompressEnd(&c->u.bz);
        memset(&c->u.bz, 0, sizeof(c->u.bz));
        return BZ2_bzDecompressInit(&c->u.bz, 0, 0) == BZ_OK ? 0 : -1;
    case CODEC_LZ4:
        if (again) /* reset by the end of a frame */
            return 0;
        return LZ4F_isError(LZ4F_createDecompressionContext(&c->u.lz4, LZ4F_VERSION)) ? -1 : 0;
    default:
        return -1;
    }
}

codec *codec_new(codec_kind k)
{
    codec *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->kind = k;
    if (k == CODEC_XZ) {
        lzma_stream init = LZMA_STREAM_INIT;
        c->u.xz = init;
    }
    if (start(c, 0) < 0) {
        codec_free(c);
        return NULL;
    }
    return c;
}

int codec_restart(codec *c)
{
    return start(c, 1);
}

static unsigned clamp_uint(size_t n)
{
    return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

static codec_step fail(codec *c, const char *why)
{
    snprintf(c->msg, sizeof(c->msg), "%s", why);
    return CODEC_ERROR;
}

static codec_step run_gzip(codec *c, uint8_t *in, size_t in_len, size_t *in_pos, uint8_t *out,
                           size_t out_len, size_t *out_pos)
{
    z_stream *z = &c->u.z;
    unsigned avail_in = clamp_uint(in_len - *in_pos), avail_out = clamp_uint(out_len - *out_pos);
    z->next_in = in + *in_pos;
    z->avail_in = avail_in;
    z->next_out = out + *out_pos;
    z->avail_out = avail_out;
    int ret = inflate(z, Z_NO_FLUSH);
    *in_pos += avail_in - z->avail_in;
    *out_pos += avail_out - z->avail_out;
    if (ret == Z_STREAM_END)
        return CODEC_END;
    if (ret == Z_OK || ret == Z_BUF_ERROR)
        return CODEC_MORE;
    return fail(c, z->msg ? z->msg : "inflate failed");
}

/* How much input zstd and lz4 are given per call. On an error they report
 * no progress for the call that failed (their positions are updated only
 * on success), so whatever that call decoded is lost: little input per
 * call keeps that to about the block where the damage was found. */
#define STEP_IN ((size_t)16 * 1024)

static size_t step_end(size_t in_len, size_t in_pos)
{
    return in_len - in_pos > STEP_IN ? in_pos + STEP_IN : in_len;
}

static codec_step run_zstd(codec *c, uint8_t *in, size_t in_len, size_t *in_pos, uint8_t *out,
                           size_t out_len, size_t *out_pos)
{
    ZSTD_inBuffer ib = {in, step_end(in_len, *in_pos), *in_pos};
    ZSTD_outBuffer ob = {out, out_len, *out_pos};
    size_t r = ZSTD_decompressStream(c->u.zs, &ob, &ib);
    *in_pos = ib.pos;
    *out_pos = ob.pos;
    if (ZSTD_isError(r))
        return fail(c, ZSTD_getErrorName(r));
    return r == 0 ? CODEC_END : CODEC_MORE; /* 0: a frame decoded and flushed */
}

static const char *xz_error(lzma_ret r)
{
    switch (r) {
    case LZMA_MEM_ERROR:
        return "out of memory";
    case LZMA_FORMAT_ERROR:
        return "not an xz stream";
    case LZMA_OPTIONS_ERROR:
        return "unsupported options";
    case LZMA_DATA_ERROR:
        return "compressed data is corrupt";
    case LZMA_UNSUPPORTED_CHECK:
        return "unsupported integrity check";
    default:
        return "decoder error";
    }
}

static codec_step run_xz(codec *c, uint8_t *in, size_t in_len, size_t *in_pos, uint8_t *out,
                         size_t out_len, size_t *out_pos)
{
    lzma_stream *x = &c->u.xz;
    x->next_in = in + *in_pos;
    x->avail_in = in_len - *in_pos;
    x->next_out = out + *out_pos;
    x->avail_out = out_len - *out_pos;
    lzma_ret r = lzma_code(x, LZMA_RUN);
    *in_pos = in_len - x->avail_in;
    *out_pos = out_len - x->avail_out;
    if (r == LZMA_STREAM_END)
        return CODEC_END;
    if (r == LZMA_OK || r == LZMA_BUF_ERROR)
        return CODEC_MORE;
    return fail(c, xz_error(r));
}

static codec_step run_bzip2(codec *c, uint8_t *in, size_t in_len, size_t *in_pos, uint8_t *out,
                            size_t out_len, size_t *out_pos)
{
    bz_stream *b = &c->u.bz;
    unsigned avail_in = clamp_uint(in_len - *in_pos), avail_out = clamp_uint(out_len - *out_pos);
    b->next_in = (char *)(in + *in_pos);
    b->avail_in = avail_in;
    b->next_out = (char *)(out + *out_pos);
    b->avail_out = avail_out;
    int r = BZ2_bzDecompress(b);
    *in_pos += avail_in - b->avail_in;
    *out_pos += avail_out - b->avail_out;
    switch (r) {
    case BZ_STREAM_END:
        return CODEC_END;
    case BZ_OK:
        return CODEC_MORE;
    case BZ_DATA_ERROR:
        return fail(c, "data integrity error");
    case BZ_DATA_ERROR_MAGIC:
        return fail(c, "not a bzip2 stream");
    case BZ_MEM_ERROR:
        return fail(c, "out of memory");
    default:
        return fail(c, "decoder error");
    }
}

static codec_step run_lz4(codec *c, uint8_t *in, size_t in_len, size_t *in_pos, uint8_t *out,
                          size_t out_len, size_t *out_pos)
{
    size_t src = step_end(in_len, *in_pos) - *in_pos, dst = out_len - *out_pos;
    size_t r = LZ4F_decompress(c->u.lz4, out + *out_pos, &dst, in + *in_pos, &src, NULL);
    *in_pos += src;
    *out_pos += dst;
    if (LZ4F_isError(r))
        return fail(c, LZ4F_getErrorName(r));
    return r == 0 ? CODEC_END : CODEC_MORE; /* 0: a frame decoded and flushed */
}

codec_step codec_run(codec *c, uint8_t *in, size_t in_len, size_t *in_pos, uint8_t *out,
                     size_t out_len, size_t *out_pos)
{
    switch (c->kind) {
    case CODEC_GZIP:
        return run_gzip(c, in, in_len, in_pos, out, out_len, out_pos);
    case CODEC_ZSTD:
        return run_zstd(c, in, in_len, in_pos, out, out_len, out_pos);
    case CODEC_XZ:
        return run_xz(c, in, in_len, in_pos, out, out_len, out_pos);
    case CODEC_BZIP2:
        return run_bzip2(c, in, in_len, in_pos, out, out_len, out_pos);
    case CODEC_LZ4:
        return run_lz4(c, in, in_len, in_pos, out, out_len, out_pos);
    default:
        return fail(c, "no decoder");
    }
}

const char *codec_error(const codec *c)
{
    return c->msg;
}

void codec_free(codec *c)
{
    if (!c)
        return;
    switch (c->kind) {
    case CODEC_GZIP:
        (void)inflateEnd(&c->u.z);
        break;
    case CODEC_ZSTD:
        ZSTD_freeDStream(c->u.zs);
        break;
    case CODEC_XZ:
        lzma_end(&c->u.xz);
        break;
    case CODEC_BZIP2:
        (void)BZ2_bzDecompressEnd(&c->u.bz);
        break;
    case CODEC_LZ4:
        (void)LZ4F_freeDecompressionContext(c->u.lz4);
        break;
    default:
        break;
    }
    free(c);
}
