package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// The vhosts and databases of Vhost and Database, made and removed without a
// testing.TB: for harnesses that run outside a test too (the load test's
// stacks).

// CreateVhost creates the RabbitMQ vhost name through the management API at
// adminURL (http://user:password@host:15672), gives the user of amqpBase
// every right on it, and returns amqpBase with the vhost as its path.
func CreateVhost(ctx context.Context, adminURL, amqpBase, name string) (string, error) {
	if err := RabbitAdmin(ctx, adminURL, http.MethodPut, "/api/vhosts/"+name, nil); err != nil {
		return "", fmt.Errorf("create vhost: %w", err)
	}
	u, err := url.Parse(amqpBase)
	if err != nil {
		return "", fmt.Errorf("AMQP URL: %w", err)
	}
	if err := RabbitAdmin(ctx, adminURL, http.MethodPut, "/api/permissions/"+name+"/"+u.User.Username(),
		map[string]string{"configure": ".*", "write": ".*", "read": ".*"}); err != nil {
		return "", fmt.Errorf("vhost permissions: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DeleteVhost deletes the vhost name and everything in it.
func DeleteVhost(ctx context.Context, adminURL, name string) error {
	return RabbitAdmin(ctx, adminURL, http.MethodDelete, "/api/vhosts/"+name, nil)
}

// RabbitAdmin sends a request to the RabbitMQ management API at adminURL,
// with body (if not nil) as JSON, and fails unless the answer is 2xx.
func RabbitAdmin(ctx context.Context, adminURL, method, path string, body any) error {
	u, err := url.Parse(adminURL)
	if err != nil {
		return fmt.Errorf("rabbitmq admin URL: %w", err)
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.Scheme+"://"+u.Host+path, rd)
	if err != nil {
		return err
	}
	pass, _ := u.User.Password()
	req.SetBasicAuth(u.User.Username(), pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s (is the RabbitMQ management plugin enabled?): %w", method, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return nil
}

// CreateDatabase creates the PostgreSQL database name through adminURL (a
// database URL allowed to CREATE DATABASE) and returns adminURL with the new
// database as its path.
func CreateDatabase(ctx context.Context, adminURL, name string) (string, error) {
	if err := pgAdmin(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DropDatabase drops the database name, closing the connections still open
// to it.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	if err := pgAdmin(ctx, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func pgAdmin(ctx context.Context, adminURL, statement string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, statement)
	return err
}
