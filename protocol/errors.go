package protocol

// wrapped is an error with context, for code that also runs in the
// viewer's WebAssembly, where fmt is not linked (its size).
type wrapped struct {
	prefix, suffix string
	err            error
}

func (e *wrapped) Error() string { return e.prefix + e.err.Error() + e.suffix }
func (e *wrapped) Unwrap() error { return e.err }

// wrap returns err with msg before it ("msg: err"); errors.Is and As see
// err.
func wrap(msg string, err error) error { return &wrapped{prefix: msg + ": ", err: err} }

// detail returns err with detail after it ("err: detail").
func detail(err error, detail string) error { return &wrapped{suffix: ": " + detail, err: err} }

// Wrap and Detail are wrap and detail for quicast's other WebAssembly
// packages.
func Wrap(msg string, err error) error { return wrap(msg, err) }

func Detail(err error, d string) error { return detail(err, d) }
