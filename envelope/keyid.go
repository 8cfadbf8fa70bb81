package envelope

// KeyIDOf returns the id of the KEK key that wrapped the data key of
// ciphertext, as its header records it, without decrypting anything. Key
// rotation uses it to tell the records already wrapped by the primary key
// from those still to re-wrap.
//
// Returns an error wrapping ErrFormat if ciphertext is not in a format Open
// can read.
func KeyIDOf(ciphertext []byte) (string, error) {
	h, err := parse(ciphertext)
	if err != nil {
		return "", err
	}
	return h.keyID, nil
}

// KeyID returns the id of the KEK's primary key: the key that Seal wraps
// data keys under now.
func (e *Envelope) KeyID() string { return e.kek.KeyID() }

// KeyIDOf returns the id of the key that wrapped the data key of
// ciphertext; see the function KeyIDOf.
func (e *Envelope) KeyIDOf(ciphertext []byte) (string, error) { return KeyIDOf(ciphertext) }
