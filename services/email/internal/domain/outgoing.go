package domain

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrEmailNotFound: no email has been recorded for the booking.
var ErrEmailNotFound = errors.New("no email recorded for this booking")

// ErrInvalidVoucher: what the voucher service returned is not a PDF.
var ErrInvalidVoucher = errors.New("voucher is not a pdf")

// OutgoingEmail is a confirmation email ready for an SMTP server: the sender
// is the mailer's to choose (it is configuration, not a rule).
type OutgoingEmail struct {
	MessageID      string // with angle brackets: "<booking-id@staybook>"
	ToName         string
	ToAddress      string
	Subject        string
	Text           string
	HTML           string
	AttachmentName string
	Attachment     []byte // the voucher PDF
}

// Compose builds the email that confirms c, with its voucher attached.
func Compose(c Confirmation, voucherPDF []byte) (OutgoingEmail, error) {
	if !bytes.HasPrefix(voucherPDF, []byte("%PDF-")) {
		return OutgoingEmail{}, fmt.Errorf("%w (booking %s, %d bytes)", ErrInvalidVoucher, c.BookingID, len(voucherPDF))
	}
	text, err := c.TextBody()
	if err != nil {
		return OutgoingEmail{}, err
	}
	html, err := c.HTMLBody()
	if err != nil {
		return OutgoingEmail{}, err
	}
	return OutgoingEmail{
		MessageID:      MessageID(c.BookingID),
		ToName:         c.GuestName,
		ToAddress:      c.GuestEmail,
		Subject:        c.Subject(),
		Text:           text,
		HTML:           html,
		AttachmentName: c.AttachmentName(),
		Attachment:     voucherPDF,
	}, nil
}
