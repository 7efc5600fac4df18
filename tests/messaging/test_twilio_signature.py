"""X-Twilio-Signature against twilio-python's own test vectors.

The token, URL, parameters and expected signatures are those of twilio-python's
``tests/unit/test_request_validator.py`` (commit 306691e7): an independent check that the
signing string, the sorting, the duplicate rule and the port quirks are Twilio's.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging.twilio_signature import compute_signature, is_valid

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_the_signature_of_twilios_own_example():
    assert compute_signature(TOKEN, URL, PARAMS) == EXPECTED
    assert is_valid(TOKEN, URL, PARAMS, EXPECTED)


def test_repeated_names_are_sorted_by_value_and_duplicates_count_once():
    pairs = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert compute_signature(TOKEN, URL, pairs) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        # A port in the URL is also tried without it (https and http).
        (URL.replace(".com", ".com:1234"), EXPECTED),
        (URL.replace(".com", ".com:1234").replace("https", "http"), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        # No port in the URL: the scheme's default port is also tried.
        (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        (URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_the_port_quirks_twilio_python_accepts(url, signature):
    assert is_valid(TOKEN, url, PARAMS, signature)


def test_a_json_body_is_checked_through_its_hash_in_the_url():
    body = '{"property": "value", "boolean": true}'
    url = URL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert is_valid(TOKEN, url, body, "a9nBmqA0ju/hNViExpshrM61xv4=")
    assert not is_valid(TOKEN, url, body + " ", "a9nBmqA0ju/hNViExpshrM61xv4=")


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("54321", URL, PARAMS, EXPECTED),  # another account's token
        (TOKEN, URL + "&baz=3", PARAMS, EXPECTED),  # another URL
        (TOKEN, URL, {**PARAMS, "Digits": "9999"}, EXPECTED),  # a changed parameter
        (TOKEN, URL, {**PARAMS, "Extra": "1"}, EXPECTED),  # an added parameter
        (TOKEN, URL, PARAMS, ""),  # no signature
        ("", URL, PARAMS, EXPECTED),  # no token configured
    ],
)
def test_anything_else_is_refused(token, url, params, signature):
    assert not is_valid(token, url, params, signature)


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), max_size=6),
    st.text(min_size=1, max_size=12),
)
def test_a_signature_made_with_the_token_validates_and_any_change_of_value_does_not(params, key):
    signature = compute_signature(TOKEN, URL, params)
    assert is_valid(TOKEN, URL, params, signature)
    changed = {**params, key: params.get(key, "") + "x"}
    assert not is_valid(TOKEN, URL, changed, signature)


@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=6), st.text(max_size=8)), max_size=8),
    st.sampled_from([URL, "http://127.0.0.1:8080/webhooks/twilio/sms", "https://e.al/x?a=1"]),
)
def test_elos_signer_and_the_fakes_independent_one_agree(pairs, url):
    from devtools.twilio_rules import sign

    assert compute_signature(TOKEN, url, pairs) == sign(TOKEN, url, pairs)
