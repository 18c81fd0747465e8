package protocol

// wrapped is an error with context, for code that also runs in the
// viewer's WebAssembly, where fmt is not linked (its size).
type wrapped struct {
	prefix, suffix string
	err            error
}

func (e *wrapped) Error() string { return e.prefix + e.err.Error() + e.suffix }
func (e *wrapped) Unwrap() error { return e.err }

// Wrap returns err with msg before it ("msg: err"); errors.Is and As see
// err. For quicast's WebAssembly packages, in place of fmt.Errorf.
func Wrap(msg string, err error) error { return &wrapped{prefix: msg + ": ", err: err} }

// Detail returns err with detail after it ("err: detail").
func Detail(err error, detail string) error { return &wrapped{suffix: ": " + detail, err: err} }
