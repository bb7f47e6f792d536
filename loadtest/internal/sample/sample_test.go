package sample

import (
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const scrape = `# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 3.3e+07
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
# TYPE staybook_bookings_total counter
staybook_bookings_total{reason="",status="confirmed"} 10
staybook_bookings_total{reason="sold_out",status="rejected"} 2
# TYPE staybook_handler_execution_time_seconds histogram
staybook_handler_execution_time_seconds_bucket{handler_name="book_room#1",success="true",le="+Inf"} 4
staybook_handler_execution_time_seconds_sum{handler_name="book_room#1",success="true"} 0.2
staybook_handler_execution_time_seconds_count{handler_name="book_room#1",success="true"} 4
staybook_handler_execution_time_seconds_bucket{handler_name="book_room#2",success="true",le="+Inf"} 6
staybook_handler_execution_time_seconds_sum{handler_name="book_room#2",success="true"} 0.3
staybook_handler_execution_time_seconds_count{handler_name="book_room#2",success="true"} 6
staybook_handler_execution_time_seconds_bucket{handler_name="record_voucher_created#1",success="true",le="+Inf"} 9
staybook_handler_execution_time_seconds_sum{handler_name="record_voucher_created#1",success="true"} 9
staybook_handler_execution_time_seconds_count{handler_name="record_voucher_created#1",success="true"} 9
`

func TestFigures_SumsLabelValuesAndHandlerInstances(t *testing.T) {
	t.Parallel()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(scrape))
	if err != nil {
		t.Fatal(err)
	}
	f := Figures(families)
	want := map[string]float64{RSSBytes: 3.3e7, CPUSeconds: 1.5, BookingsSettled: 12, BookRoomCount: 10, BookRoomSum: 0.5}
	for k, v := range want {
		if got, ok := f[k]; !ok || got < v-1e-9 || got > v+1e-9 {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if _, ok := f[EmailsSent]; ok {
		t.Errorf("a figure missing from the scrape must be absent, not zero")
	}
}
