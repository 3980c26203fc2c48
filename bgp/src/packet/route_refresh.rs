//! ROUTE-REFRESH messages (RFC 2918, subtypes from RFC 7313).

use bytes::{BufMut, BytesMut};

use super::open::{Afi, Family, Safi};
use super::reader::Reader;
use crate::error::DecodeError;

/// A ROUTE-REFRESH message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// Address family to refresh.
    pub afi: Afi,
    /// Subsequent address family to refresh.
    pub safi: Safi,
    /// Message subtype (RFC 7313): 0 normal request, 1 Beginning-of-RR, 2 End-of-RR.
    pub subtype: u8,
}

impl RouteRefresh {
    /// Subtype 0: a normal route refresh request.
    pub const REQUEST: u8 = 0;
    /// Subtype 1: Beginning of Route Refresh (RFC 7313).
    pub const BEGIN: u8 = 1;
    /// Subtype 2: End of Route Refresh (RFC 7313).
    pub const END: u8 = 2;

    /// A normal refresh request for a family.
    pub fn request(family: Family) -> Self {
        RouteRefresh {
            afi: family.afi,
            safi: family.safi,
            subtype: Self::REQUEST,
        }
    }

    /// The family the message is about.
    pub fn family(&self) -> Family {
        Family::new(self.afi, self.safi)
    }

    /// Decodes the body. A body other than 4 octets is an error for subtypes 1 and 2
    /// (RFC 7313 §5); a normal request may carry ORF entries (RFC 5291), which are ignored.
    pub(crate) fn decode_body(body: &[u8], whole: &[u8]) -> Result<Self, DecodeError> {
        let length = u16::try_from(whole.len()).unwrap_or(u16::MAX);
        let err = || DecodeError::RouteRefreshLength {
            length,
            message: whole.to_vec(),
        };
        let mut r = Reader::new(body);
        let afi = Afi::from_u16(r.u16().map_err(|_| err())?);
        let subtype = r.u8().map_err(|_| err())?;
        let safi = Safi::from_u8(r.u8().map_err(|_| err())?);
        if !r.is_empty() && subtype != Self::REQUEST {
            return Err(err());
        }
        Ok(RouteRefresh { afi, safi, subtype })
    }

    /// Appends the body.
    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.afi.to_u16());
        out.put_u8(self.subtype);
        out.put_u8(self.safi.to_u8());
    }
}
