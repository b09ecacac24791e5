package core

import "math/bits"

// The hash and bucket rule of the contract:
//
//	h(s)             = MurmurHash3_x86_32(utf8(s), seed=0), unsigned 32-bit
//	bucket(id, salt) = h(id + "|" + salt) % 10000
const (
	HashSeed      uint32 = 0
	BucketCount   uint32 = 10000
	SaltSeparator        = "|"
)

const (
	murmurC1 uint32 = 0xcc9e2d51
	murmurC2 uint32 = 0x1b873593
)

// Hash32 is MurmurHash3_x86_32 of the bytes of s (Go strings are UTF-8) with seed 0.
func Hash32(s string) uint32 { return hashConcat(s, "") }

// Bucket is the unit's bucket in [0, 10000) for salt (a layer, experiment or holdout salt).
func Bucket(unitID, salt string) uint32 {
	return hashConcat(unitID, SaltSeparator+salt) % BucketCount
}

// bucketSuffix is Bucket with a precomputed "|salt" suffix; it never allocates.
func bucketSuffix(unitID, suffix string) uint32 {
	return hashConcat(unitID, suffix) % BucketCount
}

func mixBlock(h, k uint32) uint32 {
	k *= murmurC1
	k = bits.RotateLeft32(k, 15)
	k *= murmurC2
	h ^= k
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}

func le32(s string, i int) uint32 {
	_ = s[i+3]
	return uint32(s[i]) | uint32(s[i+1])<<8 | uint32(s[i+2])<<16 | uint32(s[i+3])<<24
}

// hashConcat is MurmurHash3_x86_32(a + b) without building the concatenation.
func hashConcat(a, b string) uint32 {
	h := HashSeed
	var buf [4]byte
	nb := 0
	i := 0
	for ; i+4 <= len(a); i += 4 {
		h = mixBlock(h, le32(a, i))
	}
	for ; i < len(a); i++ {
		buf[nb] = a[i]
		nb++
	}
	j := 0
	if nb > 0 {
		for nb < 4 && j < len(b) {
			buf[nb] = b[j]
			nb++
			j++
		}
		if nb == 4 {
			h = mixBlock(h, uint32(buf[0])|uint32(buf[1])<<8|uint32(buf[2])<<16|uint32(buf[3])<<24)
			nb = 0
		}
	}
	if nb == 0 {
		for ; j+4 <= len(b); j += 4 {
			h = mixBlock(h, le32(b, j))
		}
		for ; j < len(b); j++ {
			buf[nb] = b[j]
			nb++
		}
	}
	if nb > 0 {
		var k uint32
		switch nb {
		case 3:
			k ^= uint32(buf[2]) << 16
			fallthrough
		case 2:
			k ^= uint32(buf[1]) << 8
			fallthrough
		case 1:
			k ^= uint32(buf[0])
		}
		k *= murmurC1
		k = bits.RotateLeft32(k, 15)
		k *= murmurC2
		h ^= k
	}
	h ^= uint32(len(a) + len(b))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
