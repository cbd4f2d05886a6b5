/* The scanner's fast path: newlines 64 bytes at a time, and a line of a sign
 * and 1..16 digits checked and converted from the 16 bytes before its '\n',
 * with no branch on its length.  SSE2 (every x86-64) where the compiler
 * offers it (unless SCAN_PORTABLE is defined), portable 64-bit SWAR otherwise;
 * both give the same answers.
 */
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && defined(__x86_64__) && !defined(SCAN_PORTABLE)
#include <emmintrin.h>
#define SCAN_SSE2 1
#endif

#define ONES 0x0101010101010101ull

static inline uint64_t load8(const unsigned char *p) { uint64_t x; memcpy(&x, p, 8); return x; }

/* 0x80 in each byte of x that is zero, exactly. */
static inline uint64_t zero_bytes(uint64_t x)
{
    uint64_t low7 = 0x7F7F7F7F7F7F7F7Full;
    return ~(((x & low7) + low7) | x | low7);
}

/* Bit i set where p[i] is a '\n', for the 64 bytes at p. */
static inline uint64_t newlines64(const unsigned char *p)
{
    uint64_t bits = 0;
#ifdef SCAN_SSE2
    __m128i nl = _mm_set1_epi8('\n');
    for (int i = 0; i < 4; i++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
        bits |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, nl)) << (16 * i);
    }
#else
    for (int i = 0; i < 8; i++) {
        uint64_t z = zero_bytes(load8(p + 8 * i) ^ (0x0A * ONES)) >> 7;
        bits |= ((z * 0x0102040810204080ull) >> 56) << (8 * i);
    }
#endif
    return bits;
}

#ifdef SCAN_SSE2
static const unsigned char TAIL_MASK[32] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

/* The value of the last `digits` bytes of the 16 at q if all are digits; -1 if not. */
static inline int64_t last_digits(const unsigned char *q, size_t digits)
{
    __m128i x = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)q), _mm_set1_epi8('0'));
    __m128i mask = _mm_loadu_si128((const __m128i *)(const void *)(TAIL_MASK + digits));
    __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(9)), x);
    if (_mm_movemask_epi8(_mm_andnot_si128(digit, mask))) {
        return -1;
    }
    x = _mm_and_si128(x, mask);
    __m128i zero = _mm_setzero_si128(), w10 = _mm_set1_epi32((1 << 16) | 10);
    __m128i two = _mm_packs_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(x, zero), w10),
                                  _mm_madd_epi16(_mm_unpackhi_epi8(x, zero), w10));
    __m128i four = _mm_madd_epi16(two, _mm_set1_epi32((1 << 16) | 100));
    __m128i eight = _mm_madd_epi16(_mm_packs_epi32(four, four), _mm_set1_epi32((1 << 16) | 10000));
    uint64_t pair = (uint64_t)_mm_cvtsi128_si64(eight);
    return (int64_t)((pair & 0xFFFFFFFFu) * 100000000u + (pair >> 32));
}
#else
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

/* The value of the last `digits` bytes of the 16 at q if all are digits; -1 if not. */
static inline int64_t last_digits(const unsigned char *q, size_t digits)
{
    uint64_t lo = load8(q) ^ (0x30 * ONES), hi = load8(q + 8) ^ (0x30 * ONES);
    uint64_t mhi = digits >= 8 ? ~0ull : ~0ull << (64 - 8 * digits);
    uint64_t mlo = digits > 8 ? ~0ull << (128 - 8 * digits) : 0;
    if (((non_digits(lo) & mlo) | (non_digits(hi) & mhi)) != 0) {
        return -1;
    }
    return (int64_t)(eight_digits(lo & mlo) * 100000000u + eight_digits(hi & mhi));
}
#endif

/* A line [s, e) of a sign and 1..16 digits, e its '\n' and at least 16 bytes into the buffer:
 * its value in *v and 1; 0 for any other line. */
static inline int fast_line(const unsigned char *s, const unsigned char *e, int64_t *v)
{
    int sign = (*s == '-') | (*s == '+');
    size_t digits = (size_t)(e - s) - (size_t)sign;
    if (digits - 1 >= 16) {
        return 0;
    }
    int64_t x = last_digits(e - 16, digits);
    if (x < 0) {
        return 0;
    }
    int64_t m = -(int64_t)(*s == '-');
    *v = (x ^ m) - m;
    return 1;
}
