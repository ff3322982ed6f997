package mimecasttest_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

// Example starts the fake and sends one API 1.0 request signed by hand.
func Example() {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := mimecasttest.New(mimecasttest.WithClock(func() time.Time { return now }))
	defer s.Close()
	c := s.Credentials()

	const path = "/api/account/get-account"
	date := now.Format("Mon, 02 Jan 2006 15:04:05") + " UTC"
	reqID := "8578fcfc-a305-4d9a-99cb-f4d5ecefe297"
	key, _ := base64.StdEncoding.DecodeString(c.SecretKey)
	mac := hmac.New(sha1.New, key)
	mac.Write([]byte(date + ":" + reqID + ":" + path + ":" + c.AppKey))

	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(`{"data":[]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "MC "+c.AccessKey+":"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("x-mc-app-id", c.AppID)
	req.Header.Set("x-mc-date", date)
	req.Header.Set("x-mc-req-id", reqID)
	resp, err := s.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.Contains(string(body), mimecasttest.BYOPackage))
	fmt.Println(s.Requests()[0].Auth, s.Count(path))
	// Output:
	// 200 true
	// hmac 1
}
