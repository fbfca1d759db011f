"""Plain language for the clerk: every reason code as a title, what it means, and the next step.

English is the message id; the Latvian is in the translation catalogue. A test checks that every
code of :data:`verify.reasons.CODES` is explained here, so a new code cannot reach the screen as
snake_case alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Explanation:
    title: object  # lazy strings: translated when shown
    meaning: object
    next_step: object
    fraud_risk: bool = False  # the next step involves the fraud procedure


EXPLANATIONS: dict[str, Explanation] = {
    "not_pdf": Explanation(
        _l("Not a PDF"), _l("The attachment is not a PDF file, so there is no form to read."),
        _l("Ask the customer to send the signed form itself as a PDF attachment, not a scan, photo or link.")),
    "malformed_pdf": Explanation(
        _l("Damaged PDF"), _l("The PDF is damaged and cannot be read."),
        _l("Ask the customer to download the blank form again, fill it in, sign it and send it again.")),
    "encrypted_pdf": Explanation(
        _l("Password-protected PDF"), _l("The PDF is encrypted, so its content cannot be checked."),
        _l("Ask the customer to send the form without a password or protection.")),
    "too_large": Explanation(
        _l("Too large"), _l("The PDF is larger, longer or slower to check than any genuine form."),
        _l("Ask the customer to send only the signed form, one per e-mail. If it keeps happening, tell IT.")),
    "container_invalid": Explanation(
        _l("Broken signature container"),
        _l("The signature container (.edoc, .asice) is damaged or breaks the container rules."),
        _l("Ask the customer to sign the PDF again in eParaksts or Smart-ID and send the new file.")),
    "unsigned": Explanation(
        _l("Not signed"), _l("The form carries no electronic signature."),
        _l("Ask the customer to sign the form with a qualified e-signature (eParaksts, Smart-ID, eID card) "
           "and send it again.")),
    "signature_invalid": Explanation(
        _l("Signature does not match"),
        _l("The signature cannot be read or does not match the document: the file may have been tampered with."),
        _l("Ask the customer to sign and send the form again. If the customer says they did not send it, "
           "escalate as suspected fraud."), True),
    "modified_after_signing": Explanation(
        _l("Changed after signing"), _l("Someone changed the document after it was signed."),
        _l("Compare the signed revision with the file received. Ask the customer to sign the form again "
           "without editing it afterwards; if the changes touch contact details, escalate as suspected fraud."),
        True),
    "untrusted_signer": Explanation(
        _l("Signature not from a trusted provider"),
        _l("The signer's certificate does not come from a certificate authority the bank trusts."),
        _l("Ask the customer to sign with eParaksts, Smart-ID, Mobile-ID or an eID card. If the provider "
           "looks genuine, tell a supervisor (the trust list may need an update).")),
    "certificate_expired": Explanation(
        _l("Certificate expired"), _l("The signer's certificate was not valid when the form was signed."),
        _l("Ask the customer to renew their e-signature certificate and sign the form again.")),
    "certificate_revoked": Explanation(
        _l("Certificate revoked"), _l("The signer's certificate was revoked, for example after a loss or theft."),
        _l("Do not accept the form. Call the customer on the phone number already on file; if they did not "
           "send it, escalate as suspected fraud."), True),
    "weak_algorithm": Explanation(
        _l("Outdated signature"), _l("The signature uses an algorithm that is no longer considered safe."),
        _l("Ask the customer to sign again with current signing software (eParaksts, Smart-ID).")),
    "not_for_signing": Explanation(
        _l("Certificate not meant for signing"),
        _l("The certificate is for authentication, not for qualified e-signatures."),
        _l("Ask the customer to use their signing certificate (not the authentication one) and sign again.")),
    "signing_time_invalid": Explanation(
        _l("Signing time not credible"), _l("The signing time lies in the future or cannot be believed."),
        _l("Ask the customer to sign again with correct time settings. If the time looks forged, escalate.")),
    "not_qualified": Explanation(
        _l("Not a qualified e-signature"),
        _l("The signature is valid but not a qualified electronic signature (QES), which the bank requires."),
        _l("Ask the customer to sign with a qualified e-signature: eParaksts, Smart-ID (qualified), "
           "Mobile-ID or an eID card.")),
    "unknown_form": Explanation(
        _l("Not the bank's form"), _l("The document is not the bank's customer data form, version 2026.1."),
        _l("Send the customer the link to the current blank form and ask them to fill in that one.")),
    "form_altered": Explanation(
        _l("Form structure changed"), _l("The signed document looks like the bank's form, but its structure was changed."),
        _l("Do not use the values. Ask the customer to fill in a fresh blank form; if someone else may have "
           "prepared it, escalate as suspected fraud."), True),
    "appearance_mismatch": Explanation(
        _l("Shown value differs from stored value"),
        _l("A field shows the reader one value while another is stored in it: a known forgery technique."),
        _l("Escalate to a supervisor as suspected fraud; confirm with the customer by the phone number on file."),
        True),
    "signer_mismatch": Explanation(
        _l("Signed by someone else"), _l("The person who signed is not the customer named on the form."),
        _l("Call the customer on the phone number already on file (never one from this form). If they did "
           "not ask for the change, escalate as suspected fraud."), True),
    "field_missing": Explanation(
        _l("Required field empty"), _l("A field the form requires was left empty."),
        _l("Ask the customer to fill in the named field and sign and send the form again.")),
    "field_invalid": Explanation(
        _l("Field value not valid"), _l("A field's value is not valid (for example a phone number or postcode)."),
        _l("Ask the customer to correct the named field and sign and send the form again.")),
    "no_pdf_attachment": Explanation(
        _l("No PDF in the e-mail"), _l("The e-mail carried no PDF attachment."),
        _l("Download the mail to see what it carried. Reply asking for the signed PDF form as an attachment.")),
    "unknown_customer": Explanation(
        _l("Not a customer"), _l("No customer profile exists for the personal code on the form."),
        _l("Check the personal code against the bank's records. If the person is a customer, ask IT why the "
           "profile is missing; otherwise reply that the form is for existing customers.")),
    "duplicate": Explanation(
        _l("Already applied"), _l("This very document was applied before; nothing changed."),
        _l("No action needed; clear as resolved.")),
    "stale": Explanation(
        _l("Older than the data on file"), _l("A form signed later has already been applied for this customer."),
        _l("No action needed unless the customer says otherwise; clear as resolved.")),
    "internal_error": Explanation(
        _l("Could not be processed"), _l("docintake could not process the form; the error is in the log."),
        _l("Try 'Verify again'. If it fails again, tell IT and give them the submission number.")),
}

UNKNOWN = Explanation(_l("Unrecognised reason"), _l("This reason code is not known to this version."),
                      _l("Tell IT and give them the submission number."))


def explain(code: str | None) -> Explanation:
    return EXPLANATIONS.get(code or "", UNKNOWN)
