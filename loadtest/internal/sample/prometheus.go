package sample

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Prometheus reads the service figures from a Prometheus server instead of
// each service's /metrics: every figure summed over the replicas of a
// service (its scrape job), so that a service behind a load balancer or
// with several replicas (docker compose) is measured whole. The figures
// are as fresh as the last scrape (scrape_interval, 5 s in
// deployments/prometheus/prometheus.yml).
type Prometheus struct {
	// URL is the server's base URL (http://prometheus:9090).
	URL    string
	Client *http.Client
}

// Query is the PromQL query of one figure: the extractor's family (its
// _sum or _count series for a histogram) with its labels, summed by job.
func (e extractor) Query() string {
	name := e.family
	switch e.part {
	case "sum":
		name += "_sum"
	case "count":
		name += "_count"
	}
	keys := make([]string, 0, len(e.labels))
	for k := range e.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var matchers []string
	for _, k := range keys {
		v := e.labels[k]
		if prefix, ok := strings.CutSuffix(v, "*"); ok {
			matchers = append(matchers, fmt.Sprintf("%s=~%q", k, regexp.QuoteMeta(prefix)+".*"))
		} else {
			matchers = append(matchers, fmt.Sprintf("%s=%q", k, v))
		}
	}
	sel := name
	if len(matchers) > 0 {
		sel += "{" + strings.Join(matchers, ",") + "}"
	}
	return "sum by (job) (" + sel + ")"
}

// Figures returns, per service (Prometheus job), the figures the load
// test reports, each summed over the service's replicas. A figure no
// replica serves is absent, not zero. The error is set only when no query
// was answered.
func (p Prometheus) Figures(ctx context.Context) (map[string]map[string]float64, error) {
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	out := map[string]map[string]float64{}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		answered int
		lastErr  error
	)
	for _, e := range extractors {
		wg.Go(func() {
			byJob, err := p.query(ctx, client, e.Query())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				lastErr = err
				return
			}
			answered++
			for job, v := range byJob {
				if out[job] == nil {
					out[job] = map[string]float64{}
				}
				out[job][e.key] = v
			}
		})
	}
	wg.Wait()
	if answered == 0 && lastErr != nil {
		return nil, lastErr
	}
	return out, nil
}

// queryAnswer is the Prometheus HTTP API's answer to an instant query.
type queryAnswer struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"` // [unix time, "value"]
		} `json:"result"`
	} `json:"data"`
}

func (p Prometheus) query(ctx context.Context, client *http.Client, q string) (map[string]float64, error) {
	u := strings.TrimRight(p.URL, "/") + "/api/v1/query?" + url.Values{"query": {q}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query Prometheus: %w", err)
	}
	defer resp.Body.Close()
	var ans queryAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return nil, fmt.Errorf("query Prometheus %q: %s: %w", q, resp.Status, err)
	}
	if ans.Status != "success" || ans.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query Prometheus %q: %s %s %s", q, resp.Status, ans.Status, ans.Error)
	}
	out := map[string]float64{}
	for _, r := range ans.Data.Result {
		s, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("query Prometheus %q: value %v is not a string", q, r.Value[1])
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query Prometheus %q: %w", q, err)
		}
		out[r.Metric["job"]] = v
	}
	return out, nil
}
