/* The scanner's kernels: the fast path for the common line, a sign and 1..16
 * digits, checked and converted from the 16 bytes before its '\n' with no
 * branch on its length.  Every kernel gives the same answers.
 *
 *   swar  portable 64-bit SWAR (SCAN_PORTABLE, or not x86-64): each line as
 *         its '\n' is found, newlines 64 bytes at a time
 *   sse2  every x86-64: the same with SSE2
 *   avx2  AVX2 + BMI: the line ends of up to 4 KiB listed first (newlines
 *         32 bytes per compare), then their lines two per vector
 * The avx2 kernel is compiled for its own target (a function attribute, not a
 * compiler flag) and only run where the CPU has it.
 */
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && defined(__x86_64__) && !defined(SCAN_PORTABLE)
#include <immintrin.h>
#define SCAN_X86 1
#define T_AVX2 __attribute__((target("avx2,bmi,bmi2,popcnt")))
#endif

#define ONES 0x0101010101010101ull

static inline uint64_t load8(const unsigned char *p) { uint64_t x; memcpy(&x, p, 8); return x; }

/* One line [nx[-1], nx[0] - 1), its '\n' at least 16 bytes into the buffer: if it is a sign
 * and 1..16 digits, its value in *v and 1; 0 for any other line. */
#define LINE_KERNEL(NAME, TARGET, LAST)                                                   \
    static inline TARGET int NAME(const unsigned char *const *nx, int64_t *v)            \
    {                                                                                     \
        const unsigned char *s = nx[-1], *e = nx[0] - 1;                                  \
        int sign = (*s == '-') | (*s == '+');                                             \
        size_t digits = (size_t)(e - s) - (size_t)sign;                                   \
        if (digits - 1 >= 16) {                                                           \
            return 0;                                                                     \
        }                                                                                 \
        int64_t x = LAST(e - 16, digits);                                                 \
        if (x < 0) {                                                                      \
            return 0;                                                                     \
        }                                                                                 \
        int64_t m = -(int64_t)(*s == '-');                                                \
        *v = (x ^ m) - m;                                                                 \
        return 1;                                                                         \
    }

/* 0x80 in each byte of x that is zero, exactly. */
static inline uint64_t zero_bytes(uint64_t x)
{
    uint64_t low7 = 0x7F7F7F7F7F7F7F7Full;
    return ~(((x & low7) + low7) | x | low7);
}

/* Bit i set where p[i] is a '\n', for the 64 bytes at p (SWAR). */
static inline uint64_t newlines_swar(const unsigned char *p)
{
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t z = zero_bytes(load8(p + 8 * i) ^ (0x0A * ONES)) >> 7;
        bits |= ((z * 0x0102040810204080ull) >> 56) << (8 * i);
    }
    return bits;
}

/* Nonzero bits in each byte of a (a byte ^ '0') that was not an ASCII digit. */
static inline uint64_t non_digits(uint64_t a)
{
    return (a & 0xF0F0F0F0F0F0F0F0ull) | (((a & 0x0F0F0F0F0F0F0F0Full) + 6 * ONES) & 0x10 * ONES);
}

/* The value of 8 digit values (0..9), the first byte the most significant. */
static inline uint64_t eight_digits(uint64_t a)
{
    a = (a * 10u) + (a >> 8);
    return (((a & 0x000000FF000000FFull) * (100u + (1000000ull << 32)))
            + (((a >> 16) & 0x000000FF000000FFull) * (1u + (10000ull << 32)))) >> 32;
}

/* The value of the last `digits` bytes of the 16 at q if all are digits; -1 if not (SWAR). */
static inline int64_t last_digits_swar(const unsigned char *q, size_t digits)
{
    uint64_t lo = load8(q) ^ (0x30 * ONES), hi = load8(q + 8) ^ (0x30 * ONES);
    uint64_t mhi = digits >= 8 ? ~0ull : ~0ull << (64 - 8 * digits);
    uint64_t mlo = digits > 8 ? ~0ull << (128 - 8 * digits) : 0;
    if (((non_digits(lo) & mlo) | (non_digits(hi) & mhi)) != 0) {
        return -1;
    }
    return (int64_t)(eight_digits(lo & mlo) * 100000000u + eight_digits(hi & mhi));
}

#ifndef SCAN_X86
LINE_KERNEL(direct_line, , last_digits_swar)
#define direct_newlines newlines_swar
#else
static const unsigned char TAIL_MASK[32] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

#define LOAD16(p) _mm_loadu_si128((const __m128i *)(const void *)(p))

/* Bit i set where p[i] is a '\n', for the 64 bytes at p (SSE2). */
static inline uint64_t newlines_sse2(const unsigned char *p)
{
    uint64_t bits = 0;
    __m128i nl = _mm_set1_epi8('\n');
    for (int i = 0; i < 4; i++) {
        bits |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(LOAD16(p + 16 * i), nl)) << (16 * i);
    }
    return bits;
}

/* The last `digits` bytes of the 16 at q less '0', the others 0; *bad nonzero if one is no digit. */
static inline __m128i tail_digits(const unsigned char *q, size_t digits, int *bad)
{
    __m128i x = _mm_and_si128(_mm_sub_epi8(LOAD16(q), _mm_set1_epi8('0')), LOAD16(TAIL_MASK + digits));
    *bad = _mm_movemask_epi8(_mm_adds_epu8(x, _mm_set1_epi8(0x76)));
    return x;
}

/* The value of the last `digits` bytes of the 16 at q if all are digits; -1 if not (SSE2). */
static inline int64_t last_digits_sse2(const unsigned char *q, size_t digits)
{
    int bad;
    __m128i x = tail_digits(q, digits, &bad);
    if (bad) {
        return -1;
    }
    __m128i zero = _mm_setzero_si128(), w10 = _mm_set1_epi32((1 << 16) | 10);
    __m128i two = _mm_packs_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(x, zero), w10),
                                  _mm_madd_epi16(_mm_unpackhi_epi8(x, zero), w10));
    __m128i four = _mm_madd_epi16(two, _mm_set1_epi32((1 << 16) | 100));
    __m128i eight = _mm_madd_epi16(_mm_packs_epi32(four, four), _mm_set1_epi32((1 << 16) | 10000));
    uint64_t pair = (uint64_t)_mm_cvtsi128_si64(eight);
    return (int64_t)((pair & 0xFFFFFFFFu) * 100000000u + (pair >> 32));
}

/* The value of the last `digits` bytes of the 16 at q if all are digits; -1 if not (SSSE3 madd chain). */
static inline T_AVX2 int64_t last_digits_avx2(const unsigned char *q, size_t digits)
{
    int bad;
    __m128i x = tail_digits(q, digits, &bad);
    if (bad) {
        return -1;
    }
    __m128i four = _mm_madd_epi16(_mm_maddubs_epi16(x, _mm_set1_epi16(0x010A)), _mm_set1_epi32(0x10064));
    __m128i eight = _mm_madd_epi16(_mm_packs_epi32(four, four), _mm_set1_epi32(0x12710));
    uint64_t pair = (uint64_t)_mm_cvtsi128_si64(eight);
    return (int64_t)((pair & 0xFFFFFFFFu) * 100000000u + (pair >> 32));
}

/* Bit i set where p[i] is a '\n', for the 64 bytes at p (AVX2). */
static inline T_AVX2 uint64_t newlines_avx2(const unsigned char *p)
{
    __m256i nl = _mm256_set1_epi8('\n');
    uint32_t lo = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(const void *)p), nl));
    uint32_t hi = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(p + 32)), nl));
    return (uint64_t)hi << 32 | lo;
}

/* 1 for a '+', 3 for a '-': bit 0 a sign, bit 1 a minus. */
static const unsigned char SIGNS[256] = {['+'] = 1, ['-'] = 3};

/* The sign (-1 for '-', else 0) and digit count of the line [s, e); the count is out of
 * 1..16 where the line cannot be fast. */
static inline size_t sign_digits(const unsigned char *s, const unsigned char *e, int64_t *neg)
{
    unsigned t = SIGNS[*s];
    *neg = -(int64_t)(t >> 1);
    return (size_t)(e - s) - (t & 1);
}

/* Two lines nx[-1..1] as LINE_KERNEL: if both are fast, the sum of their values in *v and 1. */
static inline T_AVX2 int group_avx2(const unsigned char *const *nx, int64_t *v)
{
    const unsigned char *e0 = nx[0] - 1, *e1 = nx[1] - 1;
    int64_t m0, m1;
    size_t d0 = sign_digits(nx[-1], e0, &m0), d1 = sign_digits(nx[0], e1, &m1);
    if ((d0 - 1 >= 16) | (d1 - 1 >= 16)) {
        return 0;
    }
    __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(LOAD16(e0 - 16)), LOAD16(e1 - 16), 1);
    __m256i mask = _mm256_inserti128_si256(_mm256_castsi128_si256(LOAD16(TAIL_MASK + d0)), LOAD16(TAIL_MASK + d1), 1);
    x = _mm256_and_si256(_mm256_sub_epi8(x, _mm256_set1_epi8('0')), mask);
    if (_mm256_movemask_epi8(_mm256_adds_epu8(x, _mm256_set1_epi8(0x76)))) {
        return 0;
    }
    __m256i four = _mm256_madd_epi16(_mm256_maddubs_epi16(x, _mm256_set1_epi16(0x010A)), _mm256_set1_epi32(0x10064));
    __m256i eight = _mm256_madd_epi16(_mm256_packs_epi32(four, four), _mm256_set1_epi32(0x12710));
    __m256i val = _mm256_add_epi64(_mm256_mul_epu32(eight, _mm256_set1_epi64x(100000000)), _mm256_srli_epi64(eight, 32));
    int64_t x0 = _mm_cvtsi128_si64(_mm256_castsi256_si128(val)), x1 = _mm_cvtsi128_si64(_mm256_extracti128_si256(val, 1));
    *v = ((x0 ^ m0) - m0) + ((x1 ^ m1) - m1);
    return 1;
}

/* Line ends of `blocks` 64-byte blocks from p, each stored as the start of the line after it
 * (the '\n' + 1) at nx[0..n), n returned; writes up to 6 slots past nx[n). */
static T_AVX2 size_t flatten_avx2(const unsigned char *p, size_t blocks, const unsigned char **nx)
{
    size_t n = 0;
    for (size_t b = 0; b < blocks; b++, p += 64) {
        uint64_t nl = newlines_avx2(p);
        size_t count = (size_t)__builtin_popcountll(nl);
        for (size_t j = 0; j < 6; j++, nl &= nl - 1) {
            nx[n + j] = p + 1 + _tzcnt_u64(nl);
        }
        if (count > 6) {
            for (size_t j = 6; j < 12; j++, nl &= nl - 1) {
                nx[n + j] = p + 1 + _tzcnt_u64(nl);
            }
            for (size_t j = 12; j < count; j++, nl &= nl - 1) {
                nx[n + j] = p + 1 + _tzcnt_u64(nl);
            }
        }
        n += count;
    }
    return n;
}

LINE_KERNEL(line_avx2, T_AVX2, last_digits_avx2)

/* Lines nx[-1..n] (as LINE_KERNEL), two at a time where both are fast: while each is fast,
 * its value added to *sum; returns how many were (the caller keeps *sum in range). */
static T_AVX2 size_t lines_avx2(const unsigned char *const *nx, size_t n, int64_t *sum)
{
    size_t i = 0;
    int64_t s = 0, v;
    while (i < n) {
        if (i + 2 <= n && group_avx2(nx + i, &v)) {
            s += v;
            i += 2;
            continue;
        }
        for (size_t stop = i + 2 < n ? i + 2 : n; i < stop; i++) {
            if (!line_avx2(nx + i, &v)) {
                goto done;
            }
            s += v;
        }
    }
done:
    *sum += s;
    return i;
}

LINE_KERNEL(direct_line, , last_digits_sse2)
#define direct_newlines newlines_sse2
#endif
