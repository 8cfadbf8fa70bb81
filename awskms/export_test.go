package awskms

// Entry is an entry of a wrapped key, exported for the tests of the format.
type Entry = entry

// NewEntry returns an entry for a key ARN and a KMS ciphertext.
func NewEntry(arn string, blob []byte) Entry { return entry{arn: arn, blob: blob} }

// ARN returns the key ARN of an entry.
func (e Entry) ARN() string { return e.arn }

// Blob returns the KMS ciphertext of an entry.
func (e Entry) Blob() []byte { return e.blob }

// ParseWrapped and MarshalWrapped give the tests the wrapped key format.
var (
	ParseWrapped   = parseWrapped
	MarshalWrapped = marshalWrapped
)
