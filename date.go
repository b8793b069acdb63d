package auditevents

import "time"

// ParseDate reads a date as the min-date and max-date parameters carry it,
// in any of these forms:
//
//	20250102150405                    the spec's YYYYMMDDHHMMSS, in UTC
//	2025-01-02T15:04:05Z              RFC 3339, with any offset and
//	2025-01-02T15:04:05.123456+02:00  an optional fraction of 1 to 9 digits
//	2025-01-02 15:04:05.000000-07     what Bindplane's own collector sends
//
// In the last two forms the separator may be "T", "t" or a space, the offset
// may be "Z", "±hh", "±hhmm" or "±hh:mm", and a missing offset means UTC, as
// in the spec's form. Because a "+" left unescaped in a URL arrives as a
// space, a space before the offset's digits is read as "+".
//
// The result is in UTC. A malformed or impossible date (February 30th, hour
// 24) returns a [*QueryError] for the parameter "date".
func ParseDate(s string) (time.Time, error) {
	t, _, err := parseDate(s)
	if err != nil {
		return time.Time{}, &QueryError{Param: "date", Value: s, Reason: dateFormats}
	}
	return t, nil
}

// parseDate returns the instant s writes and the length of the unit it is
// written to: a second, or the place of its last fractional digit.
func parseDate(s string) (time.Time, time.Duration, error) {
	if len(s) == 14 {
		return parseCompact(s)
	}
	// YYYY-MM-DD?hh:mm:ss is 19 bytes; anything after is fraction and offset.
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, errDate
	}
	switch s[10] {
	case 'T', 't', ' ':
	default:
		return time.Time{}, 0, errDate
	}
	f, ok := fields(s, 0, 5, 8, 11, 14, 17)
	if !ok {
		return time.Time{}, 0, errDate
	}
	rest := s[19:]
	nsec, unit := 0, time.Second
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		places := n - 1
		if places < 1 || places > 9 {
			return time.Time{}, 0, errDate
		}
		frac, _ := digits(rest[1:n])
		for i := places; i < 9; i++ {
			frac *= 10
		}
		nsec = frac
		unit = time.Duration(1)
		for i := places; i < 9; i++ {
			unit *= 10
		}
		rest = rest[n:]
	}
	offset, ok := parseOffset(rest)
	if !ok {
		return time.Time{}, 0, errDate
	}
	t, err := makeTime(f, nsec, offset)
	return t, unit, err
}

// parseCompact reads the spec's YYYYMMDDHHMMSS, in UTC.
func parseCompact(s string) (time.Time, time.Duration, error) {
	f, ok := fields(s, 0, 4, 6, 8, 10, 12)
	if !ok {
		return time.Time{}, 0, errDate
	}
	t, err := makeTime(f, 0, 0)
	return t, time.Second, err
}

// parseOffset reads "", "Z", "z", or a sign (or a space standing for "+")
// followed by hh, hhmm or hh:mm, and returns the offset in seconds east of
// UTC.
func parseOffset(s string) (int, bool) {
	switch s {
	case "", "Z", "z":
		return 0, true
	}
	sign := 1
	switch s[0] {
	case '+', ' ':
	case '-':
		sign = -1
	default:
		return 0, false
	}
	s = s[1:]
	var hh, mm string
	switch {
	case len(s) == 2:
		hh = s
	case len(s) == 4:
		hh, mm = s[:2], s[2:]
	case len(s) == 5 && s[2] == ':':
		hh, mm = s[:2], s[3:]
	default:
		return 0, false
	}
	h, ok := digits(hh)
	if !ok || h > 23 {
		return 0, false
	}
	m := 0
	if mm != "" {
		if m, ok = digits(mm); !ok || m > 59 {
			return 0, false
		}
	}
	return sign * (h*3600 + m*60), true
}

// dateFields are a date's year, month, day, hour, minute and second.
type dateFields [6]int

// fields reads the year (4 digits) at s[year:] and the month, day, hour,
// minute and second (2 digits each) at the other offsets.
func fields(s string, year, month, day, hour, minute, sec int) (dateFields, bool) {
	var f dateFields
	ok := true
	for i, at := range [6]int{year, month, day, hour, minute, sec} {
		width := 2
		if i == 0 {
			width = 4
		}
		var good bool
		f[i], good = digits(s[at : at+width])
		ok = ok && good
	}
	return f, ok
}

// makeTime builds a UTC time from fields read in a zone offset seconds east
// of UTC, rejecting fields out of range rather than letting time.Date
// normalize them (February 30th is not March 2nd).
func makeTime(f dateFields, nsec, offset int) (time.Time, error) {
	year, month, day, hour, minute, sec := f[0], f[1], f[2], f[3], f[4], f[5]
	if year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errDate
	}
	if day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, errDate
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).Add(-time.Duration(offset) * time.Second)
	if t.Before(minTimestamp) || !t.Before(maxTimestamp) {
		return time.Time{}, errDate // an offset pushed it out of the years 1 to 9999
	}
	return t, nil
}

// digits reads s, made only of ASCII digits, as a decimal number.
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
