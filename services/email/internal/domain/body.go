package domain

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"
)

// The email says only what the guest needs to recognise the booking; the
// voucher attached holds the details. The HTML version is escaped by
// html/template, so a guest or hotel name cannot inject markup.
var (
	textBody = texttemplate.Must(texttemplate.New("text").Parse(`Hello {{.Name}},

your booking at {{.Hotel}} is confirmed.

  Check-in:  {{.CheckIn}}
  Check-out: {{.CheckOut}}
  Booking reference: {{.Ref}}

Your voucher is attached to this email ({{.Attachment}}); please show it at check-in.

Thank you for booking with Staybook.
`))

	htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif">
<p>Hello {{.Name}},</p>
<p>your booking at <strong>{{.Hotel}}</strong> is confirmed.</p>
<table>
<tr><td>Check-in</td><td>{{.CheckIn}}</td></tr>
<tr><td>Check-out</td><td>{{.CheckOut}}</td></tr>
<tr><td>Booking reference</td><td><strong>{{.Ref}}</strong></td></tr>
</table>
<p>Your voucher is attached to this email ({{.Attachment}}); please show it at check-in.</p>
<p>Thank you for booking with Staybook.</p>
</body></html>
`))
)

type bodyData struct {
	Name, Hotel, CheckIn, CheckOut, Ref, Attachment, Subject string
}

func (c Confirmation) bodyData() bodyData {
	name := c.GuestName
	if name == "" {
		name = "guest"
	}
	hotel := c.HotelName
	if hotel == "" {
		hotel = "your hotel"
	}
	return bodyData{
		Name: name, Hotel: hotel, CheckIn: c.CheckIn, CheckOut: c.CheckOut,
		Ref: ShortRef(c.BookingID), Attachment: c.AttachmentName(), Subject: c.Subject(),
	}
}

// TextBody is the plain-text version of the email.
func (c Confirmation) TextBody() (string, error) {
	var b bytes.Buffer
	if err := textBody.Execute(&b, c.bodyData()); err != nil {
		return "", fmt.Errorf("render text body: %w", err)
	}
	return b.String(), nil
}

// HTMLBody is the HTML version of the email.
func (c Confirmation) HTMLBody() (string, error) {
	var b bytes.Buffer
	if err := htmlBody.Execute(&b, c.bodyData()); err != nil {
		return "", fmt.Errorf("render html body: %w", err)
	}
	return b.String(), nil
}
