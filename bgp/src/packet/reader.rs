//! A checked reader over a byte slice: every read returns an error instead of panicking when the
//! input is too short. All decoding in `packet` goes through it, so no peer input can make the
//! codec index out of bounds.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The input ended before a field that had to be there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Truncated;

/// Cursor over a borrowed byte slice with checked reads.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, positioned at its first byte.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unread bytes, without consuming them.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Consumes and returns the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let (head, tail) = self.buf.split_at_checked(n).ok_or(Truncated)?;
        self.buf = tail;
        Ok(head)
    }

    /// Reads fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian u16.
    pub(crate) fn u16(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian u32.
    pub(crate) fn u32(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads an IPv4 address.
    pub(crate) fn ipv4(&mut self) -> Result<Ipv4Addr, Truncated> {
        Ok(Ipv4Addr::from(self.array::<4>()?))
    }

    /// Reads an IPv6 address.
    pub(crate) fn ipv6(&mut self) -> Result<Ipv6Addr, Truncated> {
        Ok(Ipv6Addr::from(self.array::<16>()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_fail_without_panicking() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u16(), Err(Truncated));
        assert_eq!(r.u8(), Ok(3));
        assert_eq!(r.u8(), Err(Truncated));
        assert_eq!(r.take(1), Err(Truncated));
        assert!(r.is_empty());
    }
}
