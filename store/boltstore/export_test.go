package boltstore

// SetSealAfter makes a store opened with o seal its hot index entries once
// more than n events have them, so that tests in other packages and the
// crash test's child process seal often.
func SetSealAfter(o *Options, n int) { o.sealAfter = n }

// CheckQueries checks that each query returns from s what a plain scan of
// events returns.
var CheckQueries = checkQueries
