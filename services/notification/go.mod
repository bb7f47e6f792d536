module github.com/staybook/staybook/services/notification

go 1.26.8

require github.com/staybook/staybook/shared v0.0.0

replace github.com/staybook/staybook/shared => ../../shared
