module example.com/gatewayqueue

go 1.19
