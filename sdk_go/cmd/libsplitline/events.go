package main

import "C"

import (
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/splitline/splitline/sdk_go/core"
)

// The sidecar's event rules (splitline.sidecar.requests): limits, and the
// field numbers of event_id, timestamp, the required string (experiment_key
// or name) and unit_id in Exposure (kind 1) and Outcome (kind 2).
const (
	maxEventsPerCall = 100_000
	maxEventBytes    = 64 * 1024
	kindExposure     = 1
	kindOutcome      = 2
	recordHeader     = 9 // spool record: length, crc32, kind (splitline.sidecar.spool_format)
)

var eventFields = map[int][4]protowire.Number{
	kindExposure: {1, 2, 3, 6},
	kindOutcome:  {1, 2, 5, 4},
}

// lastLengths returns, per wanted field, the length of its last
// length-delimited occurrence in msg (-1 when absent); ok false when msg is
// not well formed.
func lastLengths(msg []byte, want [4]protowire.Number) (lengths [4]int, ok bool) {
	lengths = [4]int{-1, -1, -1, -1}
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return lengths, false
		}
		msg = msg[n:]
		if typ == protowire.StartGroupType || typ == protowire.EndGroupType {
			return lengths, false // the Python scanner refuses groups too
		}
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return lengths, false
			}
			for i, w := range want {
				if w == num {
					lengths[i] = len(v)
				}
			}
			msg = msg[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return lengths, false
		}
		msg = msg[m:]
	}
	return lengths, true
}

func appendUUID4(dst []byte, raw []byte) []byte {
	raw[6] = raw[6]&0x0f | 0x40
	raw[8] = raw[8]&0x3f | 0x80
	const hexdigits = "0123456789abcdef"
	for i, b := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexdigits[b>>4], hexdigits[b&15])
	}
	return dst
}

// SplitlineSpoolEvents validates and stamps the events of an already-parsed
// LogExposuresRequest (kind 1) or TrackRequest (kind 2) in data[start:end]
// and writes them to out as spool records (splitline.sidecar.spool_format),
// the rules of splitline.sidecar.requests.raw_event_records: a missing or
// empty event_id gets a UUID4, a missing timestamp gets nowNs. Returns the
// number of records, -2 when out is too small, or -1 when anything else is
// off (a rule broken, a limit crossed): the caller then answers with its own
// code, which names the field.
//
//export SplitlineSpoolEvents
func SplitlineSpoolEvents(kind C.longlong, data unsafe.Pointer, start, end C.longlong, nowNs C.longlong,
	out unsafe.Pointer, outCap C.longlong, written *C.longlong) (result C.longlong) {
	defer func() {
		if recover() != nil {
			result = -1
		}
	}()
	want, known := eventFields[int(kind)]
	if !known {
		return -1
	}
	msg := bytesAt(data, end)[start:]
	dst := bytesAt(out, outCap)[:0]
	stamp := protowire.AppendTag(nil, 1, protowire.VarintType)
	stamp = protowire.AppendVarint(stamp, uint64(int64(nowNs)/1e9))
	if nanos := int64(nowNs) % 1e9; nanos != 0 {
		stamp = protowire.AppendTag(stamp, 2, protowire.VarintType)
		stamp = protowire.AppendVarint(stamp, uint64(nanos))
	}
	var random [16]byte
	count := 0
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return -1
		}
		msg = msg[n:]
		if num != 1 || typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, msg)
			if m < 0 {
				return -1
			}
			msg = msg[m:]
			continue
		}
		event, m := protowire.ConsumeBytes(msg)
		if m < 0 {
			return -1
		}
		msg = msg[m:]
		count++
		lengths, ok := lastLengths(event, want)
		idLen, tsLen, firstLen, uidLen := lengths[0], lengths[1], lengths[2], lengths[3]
		if !ok || count > maxEventsPerCall || firstLen <= 0 || firstLen > maxKeyBytes || uidLen <= 0 ||
			uidLen > maxIDBytes {
			return -1
		}
		size := len(event)
		if idLen <= 0 {
			size += 2 + 36
		}
		if tsLen < 0 {
			size += 1 + protowire.SizeBytes(len(stamp))
		}
		if size > maxEventBytes {
			return -1
		}
		if cap(dst)-len(dst) < recordHeader+size {
			return -2
		}
		head := len(dst)
		dst = append(dst, make([]byte, recordHeader)...)
		dst = append(dst, event...)
		if idLen <= 0 {
			if _, err := rand.Read(random[:]); err != nil {
				return -1
			}
			dst = append(dst, 0x0a, 36)
			dst = appendUUID4(dst, random[:])
		}
		if tsLen < 0 {
			dst = protowire.AppendTag(dst, 2, protowire.BytesType)
			dst = protowire.AppendBytes(dst, stamp)
		}
		payload := dst[head+recordHeader:]
		binary.BigEndian.PutUint32(dst[head:], uint32(len(payload)))
		binary.BigEndian.PutUint32(dst[head+4:], crc32.ChecksumIEEE(payload))
		dst[head+8] = byte(kind)
	}
	*written = C.longlong(len(dst))
	return C.longlong(count)
}

// eventKey is where the Kafka key of a serialized event lies (the unit id:
// the last occurrence of field 6 in an Exposure, 4 in an Outcome), as
// (offset, length) in event; (0, 0) when absent or malformed, like
// splitline.sidecar.requests.event_key.
func eventKey(event []byte, kind byte) (int, int) {
	want := protowire.Number(6)
	if kind == kindOutcome {
		want = 4
	}
	keyStart, keyLen := 0, 0
	for msg, pos := event, 0; len(msg) > 0; {
		num, typ, t := protowire.ConsumeTag(msg)
		if t < 0 || typ == protowire.StartGroupType || typ == protowire.EndGroupType {
			return 0, 0
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[t:])
		if m < 0 {
			return 0, 0
		}
		if num == want && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(msg[t:])
			keyStart, keyLen = pos+t+l-len(v), len(v)
		}
		pos += t + m
		msg = msg[t+m:]
	}
	return keyStart, keyLen
}

func keyHash(key []byte) int64 {
	return int64(core.Hash32(unsafe.String(unsafe.SliceData(key), len(key))))
}

// The largest record a spool reader accepts (splitline.sidecar.spool_format.MAX_RECORD_BYTES).
const maxRecordBytes = 16 << 20

// SplitlineScanSpool reads spool records (splitline.sidecar.spool_format:
// length, crc32, kind, payload) from data[start:end], stopping at the first
// torn or corrupt one, as iter_buffer does, or after maxRecords. For each it
// writes (kind, payload offset, payload length, key offset, key length, key
// hash) to out[6i:6i+6], offsets in data; *consumed is the offset after the
// last record read. Returns the number of records (-1: read it yourself).
//
//export SplitlineScanSpool
func SplitlineScanSpool(data unsafe.Pointer, start, end C.longlong, out *C.longlong, maxRecords C.longlong,
	consumed *C.longlong) (records C.longlong) {
	defer func() {
		if recover() != nil {
			records = -1 // the caller reads the chunk with its own code
		}
	}()
	buf := bytesAt(data, end)
	res := unsafe.Slice((*int64)(unsafe.Pointer(out)), 6*int(maxRecords))
	offset, count := int(start), 0
	for count < int(maxRecords) && offset+recordHeader <= len(buf) {
		length := int(binary.BigEndian.Uint32(buf[offset:]))
		crc := binary.BigEndian.Uint32(buf[offset+4:])
		kind := buf[offset+8]
		body := offset + recordHeader
		if (kind != kindExposure && kind != kindOutcome) || length > maxRecordBytes || body+length > len(buf) {
			break
		}
		payload := buf[body : body+length]
		if crc32.ChecksumIEEE(payload) != crc {
			break
		}
		ko, kl := eventKey(payload, kind)
		r := res[6*count : 6*count+6]
		r[0], r[1], r[2], r[3], r[4] = int64(kind), int64(body), int64(length), int64(body+ko), int64(kl)
		r[5] = keyHash(payload[ko : ko+kl])
		offset = body + length
		count++
	}
	*consumed = C.longlong(offset)
	return C.longlong(count)
}
