//! AWS Signature Version 4 for DynamoDB JSON requests (POST /, service `dynamodb`) and Lambda
//! invocations (POST to the function's path, service `lambda`), so the generator pays the same
//! signing cost as a real SDK and works against AWS itself.

use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// `(YYYYMMDD'T'HHMMSS'Z', YYYYMMDD)` for seconds since the epoch (UTC).
pub fn amz_date(epoch_seconds: u64) -> (String, String) {
    let days = (epoch_seconds / 86400) as i64;
    let secs = epoch_seconds % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    let date = format!("{year:04}{month:02}{day:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    (stamp, date)
}

pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    host: String,
    /// The signing key depends only on the date and service: derived once a day, as the AWS
    /// SDKs cache it.
    signing_key: Mutex<(String, Vec<u8>)>,
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str, region: &str, host: &str) -> Signer {
        Signer {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: region.into(),
            host: host.into(),
            signing_key: Mutex::new((String::new(), Vec::new())),
        }
    }

    fn signing_key(&self, date: &str, service: &str) -> Vec<u8> {
        let mut cached = self.signing_key.lock().unwrap_or_else(|e| e.into_inner());
        let id = format!("{date}/{service}");
        if cached.0 != id {
            let k_date = hmac(format!("AWS4{}", self.secret_key).as_bytes(), date);
            let k_region = hmac(&k_date, &self.region);
            let k_service = hmac(&k_region, service);
            *cached = (id, hmac(&k_service, "aws4_request"));
        }
        cached.1.clone()
    }

    /// The `X-Amz-Date` and `Authorization` headers for one DynamoDB request.
    pub fn sign(&self, target: &str, body: &[u8], epoch_seconds: u64) -> (String, String) {
        let (stamp, _) = amz_date(epoch_seconds);
        let headers = format!(
            "content-type:application/x-amz-json-1.0\nhost:{}\nx-amz-date:{stamp}\nx-amz-target:{target}\n",
            self.host
        );
        let signed = "content-type;host;x-amz-date;x-amz-target";
        self.sign_post("dynamodb", "/", &headers, signed, body, epoch_seconds)
    }

    /// The same for a POST to `path` of `service` signing only `host` and `x-amz-date` (a
    /// Lambda invocation).
    pub fn sign_rest(
        &self,
        service: &str,
        path: &str,
        body: &[u8],
        epoch_seconds: u64,
    ) -> (String, String) {
        let (stamp, _) = amz_date(epoch_seconds);
        let headers = format!("host:{}\nx-amz-date:{stamp}\n", self.host);
        self.sign_post(
            service,
            path,
            &headers,
            "host;x-amz-date",
            body,
            epoch_seconds,
        )
    }

    fn sign_post(
        &self,
        service: &str,
        path: &str,
        headers: &str,
        signed: &str,
        body: &[u8],
        epoch_seconds: u64,
    ) -> (String, String) {
        let (stamp, date) = amz_date(epoch_seconds);
        let payload = hex(&Sha256::digest(body));
        let canonical = format!("POST\n{path}\n\n{headers}\n{signed}\n{payload}");
        let scope = format!("{date}/{}/{service}/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let signature = hex(&hmac(&self.signing_key(&date, service), &to_sign));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.access_key
        );
        (stamp, authorization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(amz_date(0), ("19700101T000000Z".into(), "19700101".into()));
        assert_eq!(
            amz_date(1_795_860_928),
            ("20261128T101528Z".into(), "20261128".into())
        );
        assert_eq!(amz_date(951_782_400).1, "20000229");
    }

    #[test]
    fn matches_botocore() {
        // The same request signed by botocore's SigV4Auth at the same instant.
        let s = Signer::new("AKID", "secret", "us-east-1", "localhost:8000");
        let (date, auth) = s.sign("DynamoDB_20120810.GetItem", b"{}", 1_795_860_928);
        assert_eq!(date, "20261128T101528Z");
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/dynamodb/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
             Signature=6a508700d27498c21e3da539dd338a7698dc30c446d3fa0fd9f52b532144b104"
        );
    }

    #[test]
    fn lambda_invocations_match_botocore() {
        // botocore's SigV4Auth for POST /2015-03-31/functions/f/invocations, service lambda,
        // headers host and x-amz-date only, body {"n":1}, at the same instant.
        let s = Signer::new("AKID", "secret", "us-east-1", "localhost:8000");
        let (_, auth) = s.sign_rest(
            "lambda",
            "/2015-03-31/functions/f/invocations",
            br#"{"n":1}"#,
            1_795_860_928,
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/lambda/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=8ba45c3c8d0fabb82950cc2f1116737d8da011b879a2e28112eeed62bd63ad7a"
        );
        // The DynamoDB signing key is not reused for Lambda, nor the other way round.
        let (_, dynamodb) = s.sign("DynamoDB_20120810.GetItem", b"{}", 1_795_860_928);
        assert!(dynamodb.ends_with(
            "Signature=6a508700d27498c21e3da539dd338a7698dc30c446d3fa0fd9f52b532144b104"
        ));
    }

    #[test]
    fn signature_is_deterministic_and_depends_on_the_body() {
        let s = Signer::new("AKID", "secret", "us-east-1", "localhost:8000");
        let a = s.sign("DynamoDB_20120810.GetItem", b"{}", 1_795_860_928);
        assert_eq!(a, s.sign("DynamoDB_20120810.GetItem", b"{}", 1_795_860_928));
        assert_ne!(
            a.1,
            s.sign("DynamoDB_20120810.GetItem", b"{ }", 1_795_860_928).1
        );
        // The cached signing key follows the date.
        let next_day = s.sign("DynamoDB_20120810.GetItem", b"{}", 1_795_860_928 + 86_400);
        assert!(next_day.1.contains("/20261129/us-east-1/"));
        assert_eq!(a, s.sign("DynamoDB_20120810.GetItem", b"{}", 1_795_860_928));
        assert!(a.1.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/dynamodb/aws4_request, SignedHeaders="
        ));
    }
}
