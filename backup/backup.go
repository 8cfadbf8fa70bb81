// Package backup writes and restores Cerberus backup files: a dump of a
// whole store (every table but tokens, see service.DumpTables), encrypted
// and authenticated under the server's key-encryption key, that can be
// restored onto a store of any type (SQLite, PostgreSQL, MySQL).
//
// The package knows nothing of stores or keys: it reads the dump from an
// Exporter, writes it to an Importer, and seals it with a Sealer; the store
// (package sqlstore) and the envelope (package envelope) implement them.
//
// # File format
//
// Format 1 is laid out as follows; integers are big-endian.
//
//	size  field
//	16    magic line "CERBERUS-BACKUP\n"
//	9     format line "format 1\n"
//	16    file id, random
//	      frames, the last of which is the final one:
//	1       flags: 0, or 1 for the final frame
//	4       n, the length of the sealed chunk, 1 to MaxChunkSize+65536
//	n       the chunk, sealed by the Sealer with the associated data
//	        "cerberus:backup:v1" 0x00, the file id, the chunk's index
//	        (8 bytes, from 0) and its flags byte
//
// Nothing may follow the final frame. Each chunk is sealed on its own, with
// a fresh data key, so that memory stays bounded whatever the size of the
// store; the associated data binds each chunk to its file, its place and
// its being the last, so that a chunk that is changed, dropped, reordered,
// moved from another backup or cut off fails to restore.
//
// The chunks' plaintexts, end to end, are a stream of records, each a type
// byte and its fields (uvarint lengths and counts):
//
//	'H'  header: length, JSON {"format":1,"created":"<RFC 3339>","source":"…"}
//	'T'  table: length, name; the rows that follow belong to it
//	'R'  row: count, then each value as a tag and its bytes:
//	       0 NULL; 1 int64, 8 bytes; 2 string, length, bytes; 3 []byte, length, bytes
//	'E'  end: count of tables, then each table's name (length, bytes) and
//	     row count; nothing follows it
//
// # Trust
//
// A backup is as secret as the database: its secrets stay in their own
// envelope ciphertexts, bound to their records, and the dump around them
// (names, paths, users, password hashes) is sealed as well. Restoring it
// needs the key-encryption key it was made with: the master.key (or the KMS
// keys) of the server that made it.
package backup

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Sealer seals and opens a value bound to associated data;
// *envelope.Envelope implements it.
type Sealer interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// Exporter dumps a store, as service.Store's Export does.
type Exporter interface {
	Export(ctx context.Context, fn func(table string, row []any) error) error
}

// Importer loads a dump into a store in one transaction, as
// service.Store's Import does: next returns io.EOF after the last row.
type Importer interface {
	Import(ctx context.Context, next func() (table string, row []any, err error)) error
}

// Format is the version of the file format this package writes.
const Format = 1

const (
	magic      = "CERBERUS-BACKUP\n"
	formatLine = "format 1\n"
	aadPrefix  = "cerberus:backup:v1\x00"
	fileIDSize = 16

	// DefaultChunkSize is the plaintext size of a chunk unless Options
	// says otherwise.
	DefaultChunkSize = 1 << 20
	// MaxChunkSize is the largest plaintext size of a chunk.
	MaxChunkSize = 16 << 20
	// maxSealedChunk bounds the length of a frame: a chunk and what the
	// sealer adds (the envelope's header, nonce and tag).
	maxSealedChunk = MaxChunkSize + 64<<10
	// maxValue bounds a string or []byte value of the dump.
	maxValue = 1 << 30

	flagFinal = 1
)

// Errors of Restore, possibly wrapped; test for them with errors.Is.
var (
	// ErrNotBackup reports a file that is not a Cerberus backup.
	ErrNotBackup = errors.New("backup: not a Cerberus backup file")
	// ErrFormat reports a backup in a format this release cannot read.
	ErrFormat = errors.New("backup: unsupported backup format")
	// ErrKey reports a backup whose first chunk does not open: it was
	// made under another key-encryption key, or it was altered.
	ErrKey = errors.New("backup: the backup does not open with the configured key-encryption key")
	// ErrDamaged reports a backup that was altered or damaged: a chunk
	// fails authentication, or holds what no writer writes.
	ErrDamaged = errors.New("backup: the backup file is damaged or was altered")
	// ErrTruncated reports a backup that ends before its final chunk.
	ErrTruncated = errors.New("backup: the backup file is truncated: it ends before its final chunk")
)

// Options tunes Write.
type Options struct {
	// ChunkSize is the plaintext size of the sealed chunks; zero means
	// DefaultChunkSize. At most MaxChunkSize.
	ChunkSize int
	// Source describes the store backed up, for the header (such as
	// "sqlite"); optional.
	Source string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Stats describes a backup.
type Stats struct {
	// Created is when the backup was made; Source is what its maker said
	// of the store.
	Created time.Time
	Source  string
	// Tables names the tables in the order of the file, and Rows counts
	// their rows.
	Tables []string
	Rows   map[string]int64
	// Chunks counts the sealed chunks, Bytes the bytes of the file.
	Chunks int
	Bytes  int64
}

// header is the JSON of the 'H' record.
type header struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	Source  string    `json:"source,omitempty"`
}

// Write dumps src into w as a backup sealed by sealer, and returns what it
// wrote. It does not close w.
func Write(ctx context.Context, w io.Writer, src Exporter, sealer Sealer, opts Options) (*Stats, error) {
	size := opts.ChunkSize
	if size == 0 {
		size = DefaultChunkSize
	}
	if size < 1 || size > MaxChunkSize {
		return nil, fmt.Errorf("backup: chunk size %d is out of the range 1 to %d", size, MaxChunkSize)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	cw := &chunkWriter{ctx: ctx, w: w, sealer: sealer, size: size}
	if _, err := rand.Read(cw.fileID[:]); err != nil {
		return nil, err
	}
	if err := cw.raw([]byte(magic + formatLine)); err != nil {
		return nil, err
	}
	if err := cw.raw(cw.fileID[:]); err != nil {
		return nil, err
	}
	st := &Stats{Created: now().UTC().Truncate(time.Second), Source: opts.Source, Rows: map[string]int64{}}
	h, err := json.Marshal(header{Format: Format, Created: st.Created, Source: opts.Source})
	if err != nil {
		return nil, err
	}
	enc := &encoder{w: cw}
	enc.byte('H')
	enc.bytes(h)
	cur := ""
	err = src.Export(ctx, func(table string, row []any) error {
		if table != cur || len(st.Tables) == 0 {
			if _, seen := st.Rows[table]; seen {
				return fmt.Errorf("backup: the dump gives rows of table %s apart", table)
			}
			cur = table
			st.Tables = append(st.Tables, table)
			st.Rows[table] = 0
			enc.byte('T')
			enc.bytes([]byte(table))
		}
		if err := enc.row(row); err != nil {
			return fmt.Errorf("backup: table %s: %w", table, err)
		}
		st.Rows[table]++
		return enc.err
	})
	if err != nil {
		return nil, err
	}
	enc.byte('E')
	enc.uvarint(uint64(len(st.Tables)))
	for _, t := range st.Tables {
		enc.bytes([]byte(t))
		enc.uvarint(uint64(st.Rows[t]))
	}
	if enc.err != nil {
		return nil, enc.err
	}
	if err := cw.close(); err != nil {
		return nil, err
	}
	st.Chunks, st.Bytes = cw.index, cw.written
	return st, nil
}

// WriteFile writes a backup of src to the file at path, as Write does. The
// file has mode 0600 and appears whole or not at all: it is written to a
// temporary file in the same directory, synced, and renamed over path.
func WriteFile(ctx context.Context, path string, src Exporter, sealer Sealer, opts Options) (_ *Stats, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	st, err := Write(ctx, bw, src, sealer, opts)
	if err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the file is in place already
		_ = d.Close()
	}
	return st, nil
}

// Restore reads a backup from r, opening it with sealer, and loads it into
// dst in one transaction (dst refuses a store that is not empty). Nothing is
// stored unless the whole file is read, authenticated and loaded. It returns
// what the backup held.
//
// Errors wrap ErrNotBackup, ErrFormat, ErrKey, ErrDamaged or ErrTruncated
// when the file is at fault, and are dst's otherwise.
func Restore(ctx context.Context, r io.Reader, dst Importer, sealer Sealer) (*Stats, error) {
	d, err := newDecoder(ctx, r, sealer)
	if err != nil {
		return nil, err
	}
	if err := dst.Import(ctx, d.next); err != nil {
		return nil, err
	}
	if !d.done {
		// The importer stopped reading before the end without an error.
		return nil, errors.New("backup: the store stopped reading the backup before its end")
	}
	d.st.Chunks, d.st.Bytes = d.cr.index, d.cr.read
	return d.st, nil
}

// RestoreFile restores the backup file at path, as Restore does.
func RestoreFile(ctx context.Context, path string, dst Importer, sealer Sealer) (*Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	return Restore(ctx, bufio.NewReaderSize(f, 256<<10), dst, sealer)
}

// chunkAAD returns the associated data of chunk index of the file fileID.
func chunkAAD(fileID [fileIDSize]byte, index int, flags byte) []byte {
	aad := make([]byte, 0, len(aadPrefix)+fileIDSize+9)
	aad = append(aad, aadPrefix...)
	aad = append(aad, fileID[:]...)
	aad = binary.BigEndian.AppendUint64(aad, uint64(index))
	return append(aad, flags)
}

// chunkWriter cuts what is written to it into chunks of size bytes, seals
// each, and writes them as frames.
type chunkWriter struct {
	ctx     context.Context
	w       io.Writer
	sealer  Sealer
	size    int
	fileID  [fileIDSize]byte
	buf     []byte
	index   int // chunks written
	written int64
}

func (c *chunkWriter) raw(b []byte) error {
	n, err := c.w.Write(b)
	c.written += int64(n)
	if err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	return nil
}

// Write buffers p and writes the chunks it completes.
func (c *chunkWriter) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for len(c.buf) > c.size { // keep a chunk's worth for close, so that the final chunk is never empty but for an empty stream
		if err := c.frame(c.buf[:c.size], 0); err != nil {
			return 0, err
		}
		c.buf = append(c.buf[:0], c.buf[c.size:]...)
	}
	return len(p), nil
}

// close writes what is buffered as the final chunk.
func (c *chunkWriter) close() error {
	err := c.frame(c.buf, flagFinal)
	clear(c.buf)
	return err
}

func (c *chunkWriter) frame(plain []byte, flags byte) error {
	sealed, err := c.sealer.Seal(c.ctx, plain, chunkAAD(c.fileID, c.index, flags))
	clear(plain)
	if err != nil {
		return fmt.Errorf("backup: seal chunk %d: %w", c.index, err)
	}
	if len(sealed) == 0 || len(sealed) > maxSealedChunk {
		return fmt.Errorf("backup: sealed chunk %d has %d bytes, out of the range 1 to %d", c.index, len(sealed), maxSealedChunk)
	}
	var hdr [5]byte
	hdr[0] = flags
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(sealed)))
	if err := c.raw(hdr[:]); err != nil {
		return err
	}
	if err := c.raw(sealed); err != nil {
		return err
	}
	c.index++
	return nil
}

// encoder writes the records of the plaintext stream; the first error
// sticks.
type encoder struct {
	w   io.Writer
	err error
	tmp []byte
}

func (e *encoder) write(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) byte(b byte) { e.write([]byte{b}) }

func (e *encoder) uvarint(n uint64) {
	e.tmp = binary.AppendUvarint(e.tmp[:0], n)
	e.write(e.tmp)
}

func (e *encoder) bytes(b []byte) {
	e.uvarint(uint64(len(b)))
	e.write(b)
}

// Value tags of a row.
const (
	tagNull   = 0
	tagInt    = 1
	tagString = 2
	tagBytes  = 3
)

func (e *encoder) row(row []any) error {
	e.byte('R')
	e.uvarint(uint64(len(row)))
	for i, v := range row {
		switch v := v.(type) {
		case nil:
			e.byte(tagNull)
		case int64:
			e.byte(tagInt)
			e.write(binary.BigEndian.AppendUint64(nil, uint64(v)))
		case string:
			if len(v) > maxValue {
				return fmt.Errorf("value %d: a string of %d bytes is larger than a backup holds", i, len(v))
			}
			e.byte(tagString)
			e.bytes([]byte(v))
		case []byte:
			if v == nil {
				e.byte(tagNull)
				continue
			}
			if len(v) > maxValue {
				return fmt.Errorf("value %d: %d bytes is larger than a backup holds", i, len(v))
			}
			e.byte(tagBytes)
			e.bytes(v)
		default:
			return fmt.Errorf("value %d is a %T; a dump holds int64, string, []byte and nil only", i, v)
		}
	}
	return nil
}

// chunkReader reads the frames of a backup and returns the chunks'
// plaintexts end to end. It returns io.EOF only after the final chunk, when
// nothing follows it.
type chunkReader struct {
	ctx    context.Context
	r      io.Reader
	sealer Sealer
	fileID [fileIDSize]byte
	plain  []byte // what is left of the current chunk
	index  int    // chunks read
	final  bool
	read   int64
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.plain) == 0 {
		if c.final {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

// full reads len(b) bytes, returning ErrTruncated if the file ends first.
func (c *chunkReader) full(b []byte) error {
	n, err := io.ReadFull(c.r, b)
	c.read += int64(n)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w (after %d bytes, in chunk %d)", ErrTruncated, c.read, c.index)
	}
	return fmt.Errorf("backup: read: %v", err) // not %w: an io.EOF in there must not end an import
}

// next reads, authenticates and opens the next chunk.
func (c *chunkReader) next() error {
	var hdr [5]byte
	if err := c.full(hdr[:]); err != nil {
		return err
	}
	flags, n := hdr[0], binary.BigEndian.Uint32(hdr[1:])
	if flags&^flagFinal != 0 || n == 0 || n > maxSealedChunk {
		return fmt.Errorf("%w: frame %d has flags %#x and length %d", ErrDamaged, c.index, flags, n)
	}
	sealed := make([]byte, n)
	if err := c.full(sealed); err != nil {
		return err
	}
	plain, err := c.sealer.Open(c.ctx, sealed, chunkAAD(c.fileID, c.index, flags))
	if err != nil {
		if cerr := c.ctx.Err(); cerr != nil {
			return cerr
		}
		if c.index == 0 {
			return c.keyError(sealed, err)
		}
		return fmt.Errorf("%w: chunk %d fails authentication (%v)", ErrDamaged, c.index, err)
	}
	c.index++
	c.plain = plain
	if flags&flagFinal != 0 {
		c.final = true
		var one [1]byte
		switch _, err := io.ReadFull(c.r, one[:]); {
		case err == io.EOF: // nothing follows
		case err == nil:
			return fmt.Errorf("%w: data follows the final chunk", ErrDamaged)
		default:
			return fmt.Errorf("backup: read: %v", err)
		}
	}
	return nil
}

// keyError explains why the first chunk does not open.
func (c *chunkReader) keyError(sealed []byte, err error) error {
	which := ""
	if kn, ok := c.sealer.(interface{ KeyIDOf([]byte) (string, error) }); ok {
		if id, ierr := kn.KeyIDOf(sealed); ierr == nil {
			which = fmt.Sprintf(" (it was sealed under key %q)", id)
		}
	}
	return fmt.Errorf("%w%s: restoring needs the key-encryption key the backup was made with, the master.key of its data directory (--kek local) or its KMS keys (--kek awskms); or the file was altered: %w",
		ErrKey, which, err)
}

// decoder reads the records of a backup's plaintext stream.
type decoder struct {
	cr    *chunkReader
	r     *bufio.Reader
	st    *Stats
	table string
	done  bool
}

// newDecoder reads the file's clear header and its 'H' record.
func newDecoder(ctx context.Context, r io.Reader, sealer Sealer) (*decoder, error) {
	cr := &chunkReader{ctx: ctx, r: r, sealer: sealer}
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(r, head); err != nil || string(head) != magic {
		return nil, fmt.Errorf("%w: it does not begin with %q", ErrNotBackup, magic[:len(magic)-1])
	}
	line := make([]byte, len(formatLine))
	if _, err := io.ReadFull(r, line); err != nil {
		return nil, ErrTruncated
	}
	if string(line) != formatLine {
		var v int
		if _, err := fmt.Sscanf(string(line), "format %d\n", &v); err == nil && v != Format {
			return nil, fmt.Errorf("%w %d: this release reads format %d; restore it with the release that made it, or a later one", ErrFormat, v, Format)
		}
		return nil, fmt.Errorf("%w: bad format line %q", ErrNotBackup, line)
	}
	if _, err := io.ReadFull(r, cr.fileID[:]); err != nil {
		return nil, ErrTruncated
	}
	cr.read = int64(len(magic) + len(formatLine) + fileIDSize)
	d := &decoder{cr: cr, r: bufio.NewReaderSize(cr, 64<<10), st: &Stats{Rows: map[string]int64{}}}
	t, err := d.byte()
	if err != nil {
		return nil, err
	}
	if t != 'H' {
		return nil, d.damaged("the stream does not begin with a header")
	}
	b, err := d.bytes(64 << 10)
	if err != nil {
		return nil, err
	}
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, d.damaged("bad header")
	}
	if h.Format != Format {
		return nil, fmt.Errorf("%w %d in the sealed header", ErrFormat, h.Format)
	}
	d.st.Created, d.st.Source = h.Created, h.Source
	return d, nil
}

func (d *decoder) damaged(what string) error {
	return fmt.Errorf("%w: %s (in chunk %d)", ErrDamaged, what, d.cr.index-1)
}

// fail turns a read error into the error of the file's fault: an io.EOF
// inside the authenticated stream means a record was cut, which no writer
// does.
func (d *decoder) fail(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return d.damaged("the stream ends inside a record")
	}
	return err
}

func (d *decoder) byte() (byte, error) {
	b, err := d.r.ReadByte()
	if err != nil {
		return 0, d.fail(err)
	}
	return b, nil
}

func (d *decoder) uvarint() (uint64, error) {
	n, err := binary.ReadUvarint(d.r)
	if err != nil {
		return 0, d.fail(err)
	}
	return n, nil
}

// bytes reads a length and that many bytes, at most limit.
func (d *decoder) bytes(limit uint64) ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, d.damaged(fmt.Sprintf("a value of %d bytes", n))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, d.fail(err)
	}
	return b, nil
}

// next returns the next row of the backup, and io.EOF after the last, once
// the end record has been checked and nothing follows it.
func (d *decoder) next() (string, []any, error) {
	if d.done {
		return "", nil, io.EOF
	}
	for {
		t, err := d.byte()
		if err != nil {
			return "", nil, err
		}
		switch t {
		case 'T':
			name, err := d.bytes(1024)
			if err != nil {
				return "", nil, err
			}
			if _, seen := d.st.Rows[string(name)]; seen || len(name) == 0 {
				return "", nil, d.damaged(fmt.Sprintf("table %q again", name))
			}
			d.table = string(name)
			d.st.Tables = append(d.st.Tables, d.table)
			d.st.Rows[d.table] = 0
		case 'R':
			if d.table == "" {
				return "", nil, d.damaged("a row before any table")
			}
			row, err := d.row()
			if err != nil {
				return "", nil, err
			}
			d.st.Rows[d.table]++
			return d.table, row, nil
		case 'E':
			if err := d.end(); err != nil {
				return "", nil, err
			}
			d.done = true
			return "", nil, io.EOF
		default:
			return "", nil, d.damaged(fmt.Sprintf("unknown record type %#x", t))
		}
	}
}

func (d *decoder) row() ([]any, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > 1024 {
		return nil, d.damaged(fmt.Sprintf("a row of %d values", n))
	}
	row := make([]any, n)
	for i := range row {
		tag, err := d.byte()
		if err != nil {
			return nil, err
		}
		switch tag {
		case tagNull:
		case tagInt:
			var b [8]byte
			if _, err := io.ReadFull(d.r, b[:]); err != nil {
				return nil, d.fail(err)
			}
			row[i] = int64(binary.BigEndian.Uint64(b[:]))
		case tagString:
			b, err := d.bytes(maxValue)
			if err != nil {
				return nil, err
			}
			row[i] = string(b)
		case tagBytes:
			b, err := d.bytes(maxValue)
			if err != nil {
				return nil, err
			}
			row[i] = b
		default:
			return nil, d.damaged(fmt.Sprintf("unknown value tag %#x", tag))
		}
	}
	return row, nil
}

// end checks the end record against what was read, and that the stream
// and the file end there.
func (d *decoder) end() error {
	n, err := d.uvarint()
	if err != nil {
		return err
	}
	if n != uint64(len(d.st.Tables)) {
		return d.damaged(fmt.Sprintf("the end record counts %d tables, the stream held %d", n, len(d.st.Tables)))
	}
	for _, t := range d.st.Tables {
		name, err := d.bytes(1024)
		if err != nil {
			return err
		}
		rows, err := d.uvarint()
		if err != nil {
			return err
		}
		if string(name) != t || rows != uint64(d.st.Rows[t]) {
			return d.damaged(fmt.Sprintf("the end record counts %d rows of %q, the stream held %d of %q", rows, name, d.st.Rows[t], t))
		}
	}
	if _, err := d.r.ReadByte(); err == nil {
		return d.damaged("records follow the end record")
	} else if !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
