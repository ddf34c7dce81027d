# cython: language_level=3
"""Reading text files in C: lines into sentences, tokens into provisional ids.

``build_vocab(corpus_file=...)`` spends all its time here, so this replaces a
Python loop (``line.split()`` plus one dict lookup per token, ~240 ns a token)
by a byte scanner with its own hash table (~50 ns a token).  It must give
exactly the tokens Python gives for ``line.split()`` over the file opened as
UTF-8 text with ``errors="replace"`` and universal newlines:

* a line ends at ``\\n``, ``\\r`` or ``\\r\\n``; a line without tokens is no sentence;
* tokens are separated by what ``str.split()`` treats as whitespace: ASCII
  ``\\t \\n \\v \\f \\r``, space and ``\\x1c``-``\\x1f``, and eleven Unicode spaces,
  recognised here by their UTF-8 bytes (``whitespace_length``).

A token is kept as its raw bytes and decoded only when its word is asked for.
Splitting raw bytes gives the same tokens as decoding first: whitespace is never
part of a multi-byte character, and the UTF-8 decoder never folds a lead byte or
an ASCII byte into an invalid sequence before it.  Two distinct invalid byte
strings can decode to the same word (both become U+FFFD); ``hsmcy.corpus`` merges
such ids after the scan.

Provisional ids are given in order of first appearance, as the Python reader does.

A file is fed in pieces.  A token that runs on past the end of a piece is carried
in the table (its bytes and running hash) and finished in the next piece, so each
byte is scanned once however long the token: a 100 MB token without whitespace
costs what 100 MB of ordinary text does, not a rescan per piece.
"""
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memchr, memcmp, memcpy

import numpy as np

cdef inline int whitespace_length(const unsigned char* p, Py_ssize_t left) noexcept nogil:
    """Bytes of the whitespace character at ``p`` (``str.isspace``), or 0 if it is none."""
    cdef unsigned char c = p[0]
    if c < 0x80:
        return 1 if (c == 32 or 9 <= c <= 13 or 0x1c <= c <= 0x1f) else 0
    if c == 0xC2:   # U+0085 (next line), U+00A0 (no-break space)
        return 2 if left >= 2 and (p[1] == 0x85 or p[1] == 0xA0) else 0
    if left < 3:
        return 0
    if c == 0xE1:   # U+1680 (ogham space mark)
        return 3 if p[1] == 0x9A and p[2] == 0x80 else 0
    if c == 0xE2:
        if p[1] == 0x80:   # U+2000-U+200A, U+2028, U+2029, U+202F
            return 3 if (0x80 <= p[2] <= 0x8A or p[2] == 0xA8 or p[2] == 0xA9 or p[2] == 0xAF) else 0
        return 3 if p[1] == 0x81 and p[2] == 0x9F else 0   # U+205F
    if c == 0xE3:   # U+3000 (ideographic space)
        return 3 if p[1] == 0x80 and p[2] == 0x80 else 0
    return 0


cdef inline uint64_t fnv1a(uint64_t h, unsigned char byte) noexcept nogil:
    """One step of FNV-1a, the token hash (start from ``0xcbf29ce484222325``)."""
    return (h ^ byte) * 0x100000001b3ULL


cdef inline uint64_t mix(uint64_t h) noexcept nogil:
    """Spread FNV-1a's bits over the low ones, which pick the table slot."""
    h ^= h >> 33
    h *= 0xff51afd7ed558ccdULL
    h ^= h >> 33
    return h


cdef struct Slot:
    uint64_t hash
    int32_t token    # provisional id, or -1 for an empty slot


cdef class TokenTable:
    """Distinct tokens (as raw bytes) of one scan, their provisional ids and counts.

    Feed consecutive pieces of a file to :meth:`scan`; then :meth:`counts` and
    :meth:`word` give the distinct tokens by provisional id (order of first appearance).
    """
    cdef Slot* slots
    cdef uint64_t slot_mask
    cdef char* arena                 # every distinct token's bytes, one after another
    cdef int64_t arena_used, arena_capacity
    cdef int64_t* token_start        # per provisional id: offset into the arena
    cdef int32_t* token_length
    cdef int64_t* token_count
    cdef int64_t n_tokens, token_capacity
    cdef bint in_sentence            # a token was seen since the last line end
    # A token that ran on past the end of the last piece: its bytes so far and their hash.
    cdef bint in_token
    cdef unsigned char* carry
    cdef int64_t carry_length, carry_capacity
    cdef uint64_t carry_hash

    def __cinit__(self):
        self.slot_mask = (1 << 16) - 1
        self.slots = <Slot*> malloc((self.slot_mask + 1) * sizeof(Slot))
        self.arena_capacity = 1 << 20
        self.arena = <char*> malloc(self.arena_capacity)
        self.token_capacity = 1 << 14
        self.token_start = <int64_t*> malloc(self.token_capacity * sizeof(int64_t))
        self.token_length = <int32_t*> malloc(self.token_capacity * sizeof(int32_t))
        self.token_count = <int64_t*> calloc(self.token_capacity, sizeof(int64_t))
        if not (self.slots and self.arena and self.token_start and self.token_length and self.token_count):
            raise MemoryError("TokenTable: out of memory")
        cdef uint64_t i
        for i in range(self.slot_mask + 1):
            self.slots[i].token = -1

    def __dealloc__(self):
        free(self.slots)
        free(self.arena)
        free(self.token_start)
        free(self.token_length)
        free(self.token_count)
        free(self.carry)

    cdef int grow_slots(self) noexcept nogil:
        """Double the hash table (its load stays below 1/2); 0 on success, -1 out of memory."""
        cdef uint64_t new_mask = self.slot_mask * 2 + 1
        cdef Slot* new_slots = <Slot*> malloc((new_mask + 1) * sizeof(Slot))
        cdef uint64_t i, j
        if new_slots == NULL:
            return -1
        for i in range(new_mask + 1):
            new_slots[i].token = -1
        for i in range(self.slot_mask + 1):
            if self.slots[i].token >= 0:
                j = mix(self.slots[i].hash) & new_mask
                while new_slots[j].token >= 0:
                    j = (j + 1) & new_mask
                new_slots[j] = self.slots[i]
        free(self.slots)
        self.slots = new_slots
        self.slot_mask = new_mask
        return 0

    cdef int32_t add_token(self, const unsigned char* text, int32_t length, uint64_t hash) noexcept nogil:
        """Store a new distinct token; its provisional id, -1 out of memory, -3 if ids run out."""
        cdef int64_t new_capacity, i
        cdef void* grown
        if self.n_tokens >= 0x7fffffff:
            return -3   # ids are int32
        if self.n_tokens == self.token_capacity:
            new_capacity = self.token_capacity * 2
            grown = realloc(self.token_start, new_capacity * sizeof(int64_t))
            if grown == NULL:
                return -1
            self.token_start = <int64_t*> grown
            grown = realloc(self.token_length, new_capacity * sizeof(int32_t))
            if grown == NULL:
                return -1
            self.token_length = <int32_t*> grown
            grown = realloc(self.token_count, new_capacity * sizeof(int64_t))
            if grown == NULL:
                return -1
            self.token_count = <int64_t*> grown
            for i in range(self.token_capacity, new_capacity):
                self.token_count[i] = 0
            self.token_capacity = new_capacity
        if self.arena_used + length > self.arena_capacity:
            new_capacity = max(self.arena_capacity * 2, self.arena_used + length)
            grown = realloc(self.arena, new_capacity)
            if grown == NULL:
                return -1
            self.arena = <char*> grown
            self.arena_capacity = new_capacity
        memcpy(self.arena + self.arena_used, text, length)
        self.token_start[self.n_tokens] = self.arena_used
        self.token_length[self.n_tokens] = length
        self.arena_used += length
        self.n_tokens += 1
        return <int32_t> (self.n_tokens - 1)

    cdef int32_t token_id(self, const unsigned char* text, int32_t length, uint64_t hash) noexcept nogil:
        """The provisional id of a token, added if new (linear probing); < 0 as ``add_token``."""
        cdef uint64_t slot = mix(hash) & self.slot_mask
        cdef int32_t token
        while True:
            token = self.slots[slot].token
            if token < 0:
                break
            if (self.slots[slot].hash == hash and self.token_length[token] == length
                    and memcmp(self.arena + self.token_start[token], text, length) == 0):
                return token
            slot = (slot + 1) & self.slot_mask
        token = self.add_token(text, length, hash)
        if token < 0:
            return token
        self.slots[slot].hash = hash
        self.slots[slot].token = token
        if <uint64_t> self.n_tokens * 2 > self.slot_mask:
            if self.grow_slots() < 0:
                return -1
        return token

    cdef int carry_bytes(self, const unsigned char* text, Py_ssize_t length) noexcept nogil:
        """Append ``length`` bytes to the carried token; 0, -1 out of memory, -2 for a token over 2 GiB."""
        cdef int64_t needed = self.carry_length + length, new_capacity
        cdef Py_ssize_t i
        cdef void* grown
        if needed > 0x7fffffff:
            return -2
        if needed > self.carry_capacity:
            new_capacity = max(self.carry_capacity * 2, needed, 1 << 16)
            grown = realloc(self.carry, new_capacity)
            if grown == NULL:
                return -1
            self.carry = <unsigned char*> grown
            self.carry_capacity = new_capacity
        if length:
            for i in range(length):
                self.carry_hash = fnv1a(self.carry_hash, text[i])
            memcpy(self.carry + self.carry_length, text, length)
            self.carry_length = needed
        return 0

    cdef int32_t finish_carried_token(self) noexcept nogil:
        """The provisional id of the carried token, now complete; < 0 as ``add_token``."""
        cdef int32_t token = self.token_id(self.carry, <int32_t> self.carry_length, self.carry_hash)
        self.in_token = False
        self.carry_length = 0
        if self.carry_capacity > (1 << 20):   # do not keep the room of one huge token
            free(self.carry)
            self.carry = NULL
            self.carry_capacity = 0
        return token

    cdef Py_ssize_t scan_text(self, const unsigned char* text, Py_ssize_t size, bint final,
                              int32_t* ids, Py_ssize_t* n_ids, int64_t* ends, Py_ssize_t* n_ends) noexcept nogil:
        """Tokens of ``text`` into ``ids``, sentence ends (as positions in ``ids``) into ``ends``.

        Returns how many bytes were consumed: all of them if ``final``, otherwise all
        but at most the last two (they may begin a multi-byte space that ends in the
        next piece: pass them again).  A token that reaches the end of a piece goes
        on in the carry, and is finished by a later call.  Errors: -1 out of memory,
        -2 for a token over 2 GiB, -3 for more distinct tokens than int32 ids can number.
        """
        cdef Py_ssize_t position = 0, consumed = 0, start, sure
        cdef int width, status
        cdef uint64_t hash
        cdef int32_t token
        if self.in_token:   # the token carried from the last piece goes on at position 0
            while position < size and whitespace_length(text + position, size - position) == 0:
                position += 1
            if position == size and not final:   # and may go on further still
                sure = max(size - 2, 0)   # (the last two bytes may begin a multi-byte space: passed again)
                status = self.carry_bytes(text, sure)
                return status if status < 0 else sure
            status = self.carry_bytes(text, position)
            if status < 0:
                return status
            token = self.finish_carried_token()
            if token < 0:
                return token
            ids[n_ids[0]] = token
            n_ids[0] += 1
            self.token_count[token] += 1
            self.in_sentence = True
            consumed = position
        while position < size:
            width = whitespace_length(text + position, size - position)
            if width:
                if text[position] == 10 or text[position] == 13:   # \n, \r: the line ends
                    if self.in_sentence:
                        ends[n_ends[0]] = n_ids[0]
                        n_ends[0] += 1
                        self.in_sentence = False
                position += width
                consumed = position
                continue
            start = position
            hash = 0xcbf29ce484222325ULL
            while position < size and whitespace_length(text + position, size - position) == 0:
                hash = fnv1a(hash, text[position])
                position += 1
            if position == size and not final:
                # The token may go on in the next piece: carry its bytes but the last two,
                # which may begin a multi-byte space (they are passed again).
                sure = max(size - 2, start)
                if sure > start:
                    self.carry_hash = 0xcbf29ce484222325ULL
                    self.in_token = True
                    status = self.carry_bytes(text + start, sure - start)
                    if status < 0:
                        return status
                consumed = sure
                break
            if position - start > 0x7fffffff:
                return -2
            token = self.token_id(text + start, <int32_t> (position - start), hash)
            if token < 0:
                return token
            ids[n_ids[0]] = token
            n_ids[0] += 1
            self.token_count[token] += 1
            self.in_sentence = True
            consumed = position
        if final and self.in_sentence:   # the last line need not end with a newline
            ends[n_ends[0]] = n_ids[0]
            n_ends[0] += 1
            self.in_sentence = False
        return consumed

    def scan(self, const unsigned char[::1] text, bint final):
        """Scan one piece of a file; returns ``(ids, ends, consumed)``.

        ``ids`` (int32) are the provisional ids of the piece's complete tokens,
        ``ends`` (int64) the positions in ``ids`` where a sentence ends, and
        ``consumed`` how many bytes of ``text`` were used: pass the rest again,
        followed by the next piece.  ``final=True`` marks the end of the file.
        """
        cdef Py_ssize_t size = text.shape[0]
        if self.slots == NULL:
            raise ValueError("TokenTable.scan after finish_scanning")
        # A token takes at least one byte and all but the last are followed by whitespace,
        # plus the token carried from the last piece; each sentence end follows a token
        # (or ends the sentence of the last piece, when no token is carried).
        ids_array = np.empty(size // 2 + 2, dtype=np.int32)
        ends_array = np.empty(size // 2 + 2, dtype=np.int64)
        cdef int32_t[::1] ids = ids_array
        cdef int64_t[::1] ends = ends_array
        cdef Py_ssize_t n_ids = 0, n_ends = 0, consumed = 0
        cdef unsigned char nothing = 0
        cdef const unsigned char* data = &text[0] if size else &nothing   # nothing is read when size is 0
        with nogil:
            consumed = self.scan_text(data, size, final, &ids[0], &n_ids, &ends[0], &n_ends)
        if consumed == -1:
            raise MemoryError(f"out of memory after {self.n_tokens:,} distinct tokens")
        if consumed == -2:
            raise ValueError("a token longer than 2 GiB")
        if consumed == -3:
            raise ValueError(f"more than {0x7fffffff:,} distinct tokens: word ids are int32")
        return ids_array[:n_ids], ends_array[:n_ends], consumed

    def finish_scanning(self):
        """Free the hash index (16+ bytes per distinct token): words and counts stay readable.

        A finished scan's words are read for as long as its ``RawScan`` lives (a
        distributed worker keeps it until the vocabulary is known); the index that
        found tokens by their bytes is needed only while scanning.
        """
        free(self.slots)
        self.slots = NULL

    def __len__(self):
        """How many distinct tokens were seen."""
        return self.n_tokens

    def word(self, Py_ssize_t token):
        """Distinct token ``token`` (a provisional id), decoded as UTF-8 (invalid bytes become U+FFFD).

        Words are decoded one at a time, when asked for: most distinct tokens of a
        corpus fall below ``min_count`` and are never needed as Python strings.
        Creating them all and freeing most would leave the survivors scattered over
        ~10 MB of allocator pages that cannot be given back (a 4M-token corpus).
        """
        if not 0 <= token < self.n_tokens:
            raise IndexError(f"token {token} out of range for {self.n_tokens} distinct tokens")
        return self.arena[self.token_start[token]:self.token_start[token] + self.token_length[token]].decode(
            "utf-8", "replace")

    def ids_with_replacement_character(self):
        """Provisional ids (int64) of the tokens whose decoded word holds U+FFFD.

        Only these can decode alike while their bytes differ: invalid UTF-8 becomes
        U+FFFD, and valid UTF-8 is one-to-one.  ASCII tokens are skipped in C.
        """
        found = []
        cdef int64_t token, position, start
        for token in range(self.n_tokens):
            start = self.token_start[token]
            for position in range(start, start + self.token_length[token]):
                if <unsigned char> self.arena[position] >= 0x80:
                    if "\ufffd" in self.word(token):
                        found.append(token)
                    break
        return np.array(found, dtype=np.int64)

    def ids_with_nul(self):
        """Provisional ids (int64) of the tokens holding a NUL byte (text files have none)."""
        found = []
        cdef int64_t token
        for token in range(self.n_tokens):
            if memchr(self.arena + self.token_start[token], 0, self.token_length[token]) != NULL:
                found.append(token)
        return np.array(found, dtype=np.int64)

    def counts(self):
        """Occurrences of each distinct token (int64), by provisional id."""
        result = np.empty(self.n_tokens, dtype=np.int64)
        cdef int64_t[::1] view = result
        if self.n_tokens:
            memcpy(&view[0], self.token_count, self.n_tokens * sizeof(int64_t))
        return result
