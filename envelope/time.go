package envelope

import (
	"encoding/binary"
	"slices"
)

// maxMillis is the last millisecond of the year 9999: RFC 3339 has
// four-digit years.
const maxMillis = 253402300799999

// minMillis is the first millisecond of the year 0000.
const minMillis = -62167219200000

// secondCache remembers the text of the last second appendMillis wrote:
// consecutive lines are received, and sent, in the same second at any
// rate worth caching for, and then only the milliseconds change.
type secondCache struct {
	sec  int64
	text [24]byte // "2006-01-02T15:04:05.000Z" of a millisecond in sec
	ok   bool
}

// appendMillis appends ms as appendMillis does, reusing the text of the
// previous call's second when it is the same.
func (c *secondCache) appendMillis(dst []byte, ms int64) []byte {
	sec := floorDiv(ms, 1000)
	if !c.ok || c.sec != sec {
		appendMillis(c.text[:0], ms)
		c.sec, c.ok = sec, true
	}
	milli := ms - sec*1000
	n := len(dst)
	dst = slices.Grow(dst, 24)[:n+24]
	b := dst[n : n+24]
	binary.LittleEndian.PutUint64(b[0:], binary.LittleEndian.Uint64(c.text[0:]))
	binary.LittleEndian.PutUint64(b[8:], binary.LittleEndian.Uint64(c.text[8:]))
	binary.LittleEndian.PutUint64(b[16:], binary.LittleEndian.Uint64(c.text[16:]))
	b[20], b[21], b[22] = byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10)
	return dst
}

// appendMillis appends the UTC time ms milliseconds after the Unix epoch as
// RFC 3339 with milliseconds and a Z ("2025-11-21T17:02:00.000Z"), the
// form of time.Time.Format("2006-01-02T15:04:05.000Z") in UTC. ms must lie
// in [minMillis, maxMillis].
func appendMillis(dst []byte, ms int64) []byte {
	days := floorDiv(ms, 86400000)
	rem := ms - days*86400000
	y, m, d := civil(days)
	sec := rem / 1000
	milli := rem % 1000
	h, mi, s := sec/3600, sec/60%60, sec%60
	var b [24]byte
	b[0] = byte('0' + y/1000)
	b[1] = byte('0' + y/100%10)
	b[2] = byte('0' + y/10%10)
	b[3] = byte('0' + y%10)
	b[4] = '-'
	b[5], b[6] = byte('0'+m/10), byte('0'+m%10)
	b[7] = '-'
	b[8], b[9] = byte('0'+d/10), byte('0'+d%10)
	b[10] = 'T'
	b[11], b[12] = byte('0'+h/10), byte('0'+h%10)
	b[13] = ':'
	b[14], b[15] = byte('0'+mi/10), byte('0'+mi%10)
	b[16] = ':'
	b[17], b[18] = byte('0'+s/10), byte('0'+s%10)
	b[19] = '.'
	b[20], b[21], b[22] = byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10)
	b[23] = 'Z'
	return append(dst, b[:]...)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse).
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}
