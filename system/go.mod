module github.com/staybook/staybook/system

go 1.26.8

require github.com/staybook/staybook/shared v0.0.0

replace github.com/staybook/staybook/shared => ../shared
